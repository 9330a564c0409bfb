import MoontuneLoop

/// Several observers of one run, each told every event in order.
struct RunObservers: RunObserver {
    let observers: [any RunObserver]

    init(_ observers: [any RunObserver]) {
        self.observers = observers
    }

    func record(_ event: RunEvent) {
        for observer in observers { observer.record(event) }
    }
}
