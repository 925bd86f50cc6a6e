import Mustache

/// The operator page's Mustache templates, compiled into the binary. Only `{{name}}` tags are used, which
/// escape `< > & " '`: whatever a vendor or a client wrote is shown as text.
enum UITemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [
            ("layout", layout), ("progress", progress), ("sign-in", signIn), ("jobs", jobs), ("job", job),
            ("confirm", confirm), ("vendors", vendors), ("error", error),
        ] {
            do {
                try library.register(text, named: name)
            } catch {
                // The templates are constants: a test renders every one, so this cannot ship.
                fatalError("operator page template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    static func isRegistered(_ name: String) -> Bool { library.getTemplate(named: name) != nil }

    static func render(_ object: Any, _ name: String) -> String {
        library.render(object, withTemplate: name) ?? ""
    }

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{$title}}BatchGate{{/title}} · BatchGate</title>
        <link rel="icon" href="/ui/assets/icon.svg" type="image/svg+xml">
        <link rel="stylesheet" href="/ui/assets/app.css">
        <script src="/ui/assets/app.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
        <a class="brand" href="/ui">BatchGate</a>
        {{#chrome}}
        <nav aria-label="Main">
        <a href="/ui"{{#jobsPage}} aria-current="page"{{/jobsPage}}>Jobs</a>
        <a href="/ui/vendors"{{#vendorsPage}} aria-current="page"{{/vendorsPage}}>Vendors</a>
        </nav>
        <form method="post" action="/ui/sign-out" class="signout">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <span>Tenant <strong>{{tenant}}</strong></span>
        <button type="submit">Sign out</button>
        </form>
        {{/chrome}}
        </header>
        <main id="main" tabindex="-1">
        {{$content}}{{/content}}
        </main>
        </body>
        </html>
        """

    static let progress = """
        <div class="progress">
        <div class="bar" role="img" aria-label="{{label}}"><span class="ok w{{okWidth}}"></span><span class="bad w{{badWidth}}"></span></div>
        <span class="pct">{{percent}}%</span>
        <span class="counts">{{succeeded}} succeeded · {{failed}} failed · {{pending}} pending</span>
        </div>
        """

    static let signIn = """
        {{<layout}}{{$title}}Sign in{{/title}}{{$content}}
        <section class="narrow">
        <h1>Sign in</h1>
        <p>Sign in with your tenant's API key. It is sent once, over this form, and never put in a URL; the page then
        keeps a session cookie.</p>
        {{#message}}<p class="alert" role="alert">{{message}}</p>{{/message}}
        <form method="post" action="/ui/sign-in">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="api_key">API key</label>
        <input id="api_key" name="api_key" type="password" autocomplete="current-password" required autofocus>
        <button type="submit">Sign in</button>
        </form>
        </section>
        {{/content}}{{/layout}}
        """

    static let jobs = """
        {{<layout}}{{$title}}Jobs{{/title}}{{$content}}
        <h1>Jobs</h1>
        <form method="get" action="/ui" class="filters" aria-label="Filter jobs">
        <label>Status <select name="lifecycle_status"><option value="">any</option>{{#statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}</select></label>
        <label>Provider <select name="provider"><option value="">any</option>{{#providers}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/providers}}</select></label>
        <label>Route <select name="route"><option value="">any</option>{{#routes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/routes}}</select></label>
        <button type="submit">Filter</button>
        </form>
        <div class="scroll">
        <table class="jobs" data-live="{{liveURL}}">
        <caption>Newest first{{#filtered}}, filtered{{/filtered}}. Rows update live.</caption>
        <thead><tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Provider</th><th scope="col">Route</th><th scope="col">Age</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-id="{{id}}">
        <td data-label="Job"><a href="/ui/batches/{{id}}">{{id}}</a></td>
        <td data-label="Status"><span class="badge {{lifecycle}}" data-field="lifecycle">{{lifecycle}}</span> <span class="muted" data-field="provider_status">{{providerStatus}}</span></td>
        <td data-label="Progress">{{#progress}}{{> progress}}{{/progress}}</td>
        <td data-label="Provider">{{provider}}</td>
        <td data-label="Route">{{route}}</td>
        <td data-label="Age"><time datetime="{{createdAt}}">{{age}}</time></td>
        </tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="6">No jobs{{#filtered}} match these filters{{/filtered}}.</td></tr>{{/rows}}
        </tbody>
        </table>
        </div>
        <nav class="pager" aria-label="Pages">
        {{#firstURL}}<a href="{{firstURL}}">First page</a>{{/firstURL}}
        {{#nextURL}}<a href="{{nextURL}}" rel="next">Next page</a>{{/nextURL}}
        </nav>
        {{/content}}{{/layout}}
        """

    static let job = """
        {{<layout}}{{$title}}{{id}}{{/title}}{{$content}}
        <p><a href="/ui">← Jobs</a></p>
        <h1>Job <code>{{id}}</code></h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#problem}}<p class="alert" role="alert">{{problem}}</p>{{/problem}}
        <section data-id="{{id}}" data-live="{{liveURL}}" aria-label="Status">
        <p><span class="badge {{lifecycle}}" data-field="lifecycle">{{lifecycle}}</span>
        {{#providerStatus}}vendor status <code data-field="provider_status">{{providerStatus}}</code>{{/providerStatus}}
        {{#controlRequested}}<span class="muted">{{controlRequested}} requested, not confirmed yet</span>{{/controlRequested}}</p>
        {{#progress}}{{> progress}}{{/progress}}
        </section>
        {{#error}}<p class="alert">Error <code>{{code}}</code>{{#providerCode}} (vendor <code>{{providerCode}}</code>){{/providerCode}}: {{message}}</p>{{/error}}
        <dl class="fields">
        {{#fields}}<dt>{{name}}</dt><dd><code>{{value}}</code></dd>{{/fields}}
        </dl>
        {{#hasActions}}
        <section aria-labelledby="actions-title">
        <h2 id="actions-title">Actions</h2>
        <div class="actions">
        {{#canCancel}}<form method="post" action="/ui/batches/{{id}}/cancel"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit" class="danger">Cancel…</button></form>{{/canCancel}}
        {{#canPause}}<form method="post" action="/ui/batches/{{id}}/pause"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit">Pause…</button></form>{{/canPause}}
        {{#canResume}}<form method="post" action="/ui/batches/{{id}}/resume"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit">Resume…</button></form>{{/canResume}}
        {{^empty(migrationTargets)}}<form method="post" action="/ui/batches/{{id}}/migrate"><input type="hidden" name="csrf" value="{{chrome.csrf}}">
        <label>Migrate to <select name="provider">{{#migrationTargets}}<option value="{{value}}">{{label}}</option>{{/migrationTargets}}</select></label>
        <button type="submit">Migrate…</button></form>{{/empty(migrationTargets)}}
        </div>
        </section>
        {{/hasActions}}
        {{^empty(phases)}}
        <section aria-labelledby="phases-title"><h2 id="phases-title">Phases</h2>
        <div class="scroll"><table><thead><tr><th scope="col">Phase</th><th scope="col">State</th><th scope="col">Counts</th><th scope="col">Started</th><th scope="col">Completed</th></tr></thead><tbody>
        {{#phases}}<tr><td>{{name}}</td><td>{{state}}</td><td><code>{{counts}}</code></td><td>{{startedAt}}</td><td>{{completedAt}}</td></tr>{{/phases}}
        </tbody></table></div></section>
        {{/empty(phases)}}
        {{^empty(chunks)}}
        <section aria-labelledby="chunks-title"><h2 id="chunks-title">Upstream batches</h2>
        <div class="scroll"><table><thead><tr><th scope="col">Items</th><th scope="col">Vendor batch</th><th scope="col">Status</th><th scope="col">Vendor status</th><th scope="col">Progress</th></tr></thead><tbody>
        {{#chunks}}<tr><td>{{items}}</td><td><code>{{batch}}</code></td><td><span class="badge {{lifecycle}}">{{lifecycle}}</span></td><td>{{providerStatus}}</td><td>{{#progress}}{{> progress}}{{/progress}}</td></tr>{{/chunks}}
        </tbody></table></div></section>
        {{/empty(chunks)}}
        <section aria-labelledby="history-title"><h2 id="history-title">History</h2>
        <ol class="timeline">
        {{#timeline}}<li><time datetime="{{at}}">{{at}}</time> <strong>{{what}}</strong> {{detail}}</li>{{/timeline}}
        {{^timeline}}<li>Nothing yet.</li>{{/timeline}}
        </ol></section>
        <section aria-labelledby="results-title"><h2 id="results-title">Results</h2>
        <div class="scroll"><table class="results"><thead><tr><th scope="col">#</th><th scope="col">Item</th><th scope="col">Status</th><th scope="col">Data</th><th scope="col">Error</th></tr></thead><tbody>
        {{#results}}<tr><td>{{index}}</td><td>{{key}}</td><td><span class="badge {{status}}">{{status}}</span></td><td><code>{{data}}</code></td><td>{{error}}</td></tr>{{/results}}
        {{^results}}<tr><td colspan="5">No items.</td></tr>{{/results}}
        </tbody></table></div>
        <nav class="pager" aria-label="Result pages">{{#resultsFirstURL}}<a href="{{resultsFirstURL}}">First items</a>{{/resultsFirstURL}} {{#resultsNextURL}}<a href="{{resultsNextURL}}" rel="next">Next items</a>{{/resultsNextURL}}</nav>
        </section>
        <section aria-labelledby="events-title"><h2 id="events-title">Vendor events</h2>
        <div class="scroll"><table><thead><tr><th scope="col">Received</th><th scope="col">Provider</th><th scope="col">Vendor batch</th><th scope="col">Type</th><th scope="col">Payload</th></tr></thead><tbody>
        {{#events}}<tr><td>{{at}}</td><td>{{provider}}</td><td><code>{{batch}}</code></td><td>{{type}}</td><td><code>{{payload}}</code></td></tr>{{/events}}
        {{^events}}<tr><td colspan="5">No vendor events stored (polled vendors send none).</td></tr>{{/events}}
        </tbody></table></div></section>
        <section aria-labelledby="webhook-title"><h2 id="webhook-title">Webhook delivery</h2>
        {{#webhook}}
        <dl class="fields">{{#summary}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/summary}}</dl>
        <div class="scroll"><table><thead><tr><th scope="col">Tried</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Status</th><th scope="col">HTTP</th><th scope="col">Latency</th><th scope="col">Error</th></tr></thead><tbody>
        {{#attempts}}<tr><td>{{triedAt}}</td><td>{{event}}</td><td>{{attempt}}</td><td><span class="badge {{status}}">{{status}}</span></td><td>{{http}}</td><td>{{latency}}</td><td>{{error}}</td></tr>{{/attempts}}
        {{^attempts}}<tr><td colspan="7">No attempts yet.</td></tr>{{/attempts}}
        </tbody></table></div>
        {{/webhook}}
        {{^webhook}}<p>This job has no webhook subscription.</p>{{/webhook}}
        </section>
        {{/content}}{{/layout}}
        """

    static let confirm = """
        {{<layout}}{{$title}}Confirm{{/title}}{{$content}}
        <section class="narrow">
        <h1>{{question}}</h1>
        <p>{{explanation}}</p>
        {{#problem}}<p class="alert" role="alert">{{problem}}</p>{{/problem}}
        <form method="post" action="{{action}}">
        <input type="hidden" name="csrf" value="{{chrome.csrf}}">
        <input type="hidden" name="confirm" value="yes">
        {{#provider}}<input type="hidden" name="provider" value="{{provider}}">{{/provider}}
        {{^problem}}<button type="submit" class="danger" autofocus>{{button}}</button>{{/problem}}
        <a href="/ui/batches/{{id}}">Back to the job</a>
        </form>
        </section>
        {{/content}}{{/layout}}
        """

    static let vendors = """
        {{<layout}}{{$title}}Vendors{{/title}}{{$content}}
        <h1>Vendors</h1>
        <p class="muted">Active jobs are your tenant's; call figures are this gateway replica's since it started.</p>
        <div class="scroll"><table>
        <thead><tr><th scope="col">Provider</th><th scope="col">Kind</th><th scope="col">Active jobs</th><th scope="col">Polls</th><th scope="col">Poll errors</th><th scope="col">Vendor calls</th><th scope="col">Mean latency</th><th scope="col">Open sockets</th><th scope="col">Last error</th></tr></thead>
        <tbody>
        {{#providers}}<tr><td>{{name}}</td><td>{{kind}}</td><td>{{active}}</td><td>{{polls}}</td><td>{{pollErrors}}</td><td>{{calls}}</td><td>{{latency}}</td><td>{{sockets}}</td><td>{{lastError}}</td></tr>{{/providers}}
        </tbody></table></div>
        <h2>Webhook outbox</h2>
        <dl class="fields">
        <dt>Due now</dt><dd>{{due}}</dd>
        <dt>Waiting to retry</dt><dd>{{retrying}}</dd>
        <dt>Failed permanently</dt><dd>{{failed}}</dd>
        </dl>
        {{/content}}{{/layout}}
        """

    static let error = """
        {{<layout}}{{$title}}{{heading}}{{/title}}{{$content}}
        <section class="narrow">
        <h1>{{heading}}</h1>
        <p class="alert" role="alert">{{message}}</p>
        <p><a href="/ui">Back to the jobs</a></p>
        </section>
        {{/content}}{{/layout}}
        """
}
