/// Every item of a cursor-paginated listing, fetched a page at a time as it is consumed.
public struct Paginated<Element: Sendable>: AsyncSequence, Sendable {
    public typealias Fetch = @Sendable (_ cursor: String?) async throws -> Page<Element>
    let fetch: Fetch

    public init(fetch: @escaping Fetch) {
        self.fetch = fetch
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let fetch: Fetch
        var buffer: [Element] = []
        var position = 0
        var cursor: String?
        var finished = false
        var seenCursors: Set<String> = []
        var pages = 0
        /// No listing of ours is this long; a server that keeps handing out new cursors is wrong.
        static var maxPages: Int { 10_000 }

        public mutating func next() async throws -> Element? {
            while position >= buffer.count {
                guard !finished else { return nil }
                let page = try await fetch(cursor)
                pages += 1
                buffer = page.items
                position = 0
                // A server that hands back a cursor it already gave would loop forever: stop.
                if page.hasMore, let next = page.nextCursor, !seenCursors.contains(next), pages < Self.maxPages {
                    seenCursors.insert(next)
                    cursor = next
                } else {
                    finished = true
                }
            }
            defer { position += 1 }
            return buffer[position]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(fetch: fetch)
    }

    /// Collects every item.
    public func collect() async throws -> [Element] {
        var items: [Element] = []
        for try await item in self { items.append(item) }
        return items
    }
}
