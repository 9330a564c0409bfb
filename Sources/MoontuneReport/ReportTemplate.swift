/// The report page, a Mustache template: `{{x}}` is escaped by the engine, `{{{x}}}` (the
/// stylesheet and the SVG charts only) is not. The gallery's thumbnails are `data:` URLs in
/// escaped attributes (base64 needs no escaping, and gets none it could be harmed by). Standalone section tags take their line with them.
enum ReportTemplate {
    static let page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>moontune report: {{name}}</title>
        <style>{{{css}}}</style>
        </head>
        <body>
        <header>
        <h1>{{name}} <span class="state state-{{state}}">{{state}}</span></h1>
        <p class="sub">step {{step}} of {{totalSteps}} · finetune <code>{{finetune}}</code> · report generated {{generated}}</p>
        </header>
        {{#hasWarnings}}
        <section id="warnings">
        <h2>Warnings</h2>
        <ul class="warnings">
        {{#warnings}}
        <li>{{.}}</li>
        {{/warnings}}
        </ul>
        </section>
        {{/hasWarnings}}
        <section id="summary">
        <h2>Summary</h2>
        <table class="summary">
        {{#summary}}
        <tr><th>{{label}}</th><td>{{value}}</td></tr>
        {{/summary}}
        </table>
        </section>
        <section id="charts">
        <h2>Charts</h2>
        <div class="charts">
        {{#charts}}
        <figure>
        {{{svg}}}
        </figure>
        {{/charts}}
        </div>
        </section>
        {{#hasEvalMetrics}}
        <section id="eval-metrics">
        <h2>Eval metrics at step {{evalMetricsStep}}</h2>
        <table class="eval-metrics">
        {{#evalMetrics}}
        <tr><th>{{skill}}</th><td>{{text}}</td></tr>
        {{/evalMetrics}}
        </table>
        </section>
        {{/hasEvalMetrics}}
        {{#hasGallery}}
        <section id="gallery">
        <h2>Eval examples</h2>
        <p class="sub">{{galleryNote}}</p>
        <p class="legend"><span><span class="swatch" style="background: {{truthColor}}"></span>ground truth</span><span><span class="swatch" style="background: {{predictionColor}}"></span>prediction</span></p>
        <div class="gallery">
        {{#galleryItems}}
        <figure class="example {{change}}" data-example="{{id}}" data-change="{{change}}">
        <figcaption>{{id}} <span class="change">· {{skill}} · {{change}} <span class="delta">{{deltaText}}</span></span></figcaption>
        <div class="pair">
        {{#cells}}
        <div class="cell">
        {{#src}}<img src="{{src}}" width="{{width}}" height="{{height}}" alt="{{label}}: ground truth and prediction"/>{{/src}}
        {{^src}}<div class="placeholder">{{placeholder}}</div>{{/src}}
        <div class="caption">{{label}} · reward {{reward}}</div>
        {{#lines}}
        <div class="text">{{.}}</div>
        {{/lines}}
        </div>
        {{/cells}}
        </div>
        </figure>
        {{/galleryItems}}
        </div>
        </section>
        {{/hasGallery}}
        <section id="checkpoints">
        <h2>Checkpoints</h2>
        {{^hasCheckpoints}}
        <p>No checkpoint saved yet.</p>
        {{/hasCheckpoints}}
        {{#hasCheckpoints}}
        <p class="sub">Pass a saved checkpoint's model string as <code>model</code> to /v1/query, /v1/point, /v1/detect or /v1/caption.</p>
        <table class="checkpoints">
        <tr><th>step</th><th>kind</th><th>state</th><th>saved</th><th>expires</th><th>model</th></tr>
        {{#checkpoints}}
        <tr class="{{state}}"><td>{{step}}</td><td>{{kind}}</td><td>{{state}}</td><td>{{saved}}</td><td>{{expires}}</td><td><code>{{model}}</code></td></tr>
        {{/checkpoints}}
        </table>
        {{/hasCheckpoints}}
        </section>
        {{#hasComparisons}}
        <section id="comparisons">
        <h2>Comparisons</h2>
        {{#comparisons}}
        <p class="sub">{{date}} · {{examples}} examples of {{dataset}}</p>
        <table class="comparison">
        <tr><th>model</th>{{#columns}}<th>{{.}}</th>{{/columns}}<th>n</th></tr>
        {{#rows}}
        <tr><td title="{{modelName}}">{{label}}</td>{{#cells}}<td>{{#best}}<strong>{{text}}</strong>{{/best}}{{^best}}{{text}}{{/best}}</td>{{/cells}}<td>{{n}}</td></tr>
        {{/rows}}
        </table>
        {{/comparisons}}
        </section>
        {{/hasComparisons}}
        <section id="config">
        <h2>Config</h2>
        <p class="sub">{{configPath}}</p>
        <pre>{{config}}</pre>
        </section>
        <footer>moontune · read from the state database only; this file needs no network.</footer>
        </body>
        </html>

        """
}
