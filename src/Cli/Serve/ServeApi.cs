using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;

namespace Tomalign.Cli.Serve;

/// <summary>A job as the API shows it.</summary>
internal sealed record JobView(long Id, string Name, string State, string? Stage, string? Error, string Stack, string Angles, int Attempts,
    DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished, string? Report, string[]? Files);

/// <summary>
/// The HTTP API and the page (ASP.NET Core minimal APIs). Errors are JSON <c>{"error": "..."}</c> with a 4xx
/// status: 400 malformed request or path, 403 a path outside the watched and output folders, 404 unknown
/// job or file, 409 a state that does not allow the action, 421 a Host header the service does not listen as.
/// </summary>
internal static class ServeApi
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static void Map(WebApplication app, ServeService s)
    {
        app.Use(async (http, next) =>
        {
            http.Response.Headers.XContentTypeOptions = "nosniff";
            // DNS rebinding: a page of another site whose name now resolves to this machine is same-origin to the browser,
            // so Origin and Sec-Fetch-Site let it through; the Host it sends is its own name, which this service does not answer.
            if (!s.Hosts.Accepts(http.Request.Host.Host))
            {
                http.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                await http.Response.WriteAsJsonAsync(new
                {
                    error = $"this service answers only as {string.Join(", ", s.Hosts.Allowed.Order(StringComparer.Ordinal))}, not as '{http.Request.Host.Host}'",
                });
                return;
            }
            // A page of another site must not submit, cancel or retry jobs through the visitor's browser: browsers send
            // Origin (and Sec-Fetch-Site) with such requests; command-line clients send neither and are let through.
            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method) && IsCrossSite(http.Request))
            {
                http.Response.StatusCode = StatusCodes.Status403Forbidden;
                await http.Response.WriteAsJsonAsync(new { error = "requests from other sites' pages are refused" });
                return;
            }
            await next(http);
        });

        app.MapGet("/", () => Results.Content(ServePage.Html, "text/html; charset=utf-8"));

        app.MapGet("/api/jobs", () => Results.Json(s.Store.List().Select(j => View(s, j, files: false))));

        app.MapGet("/api/jobs/{id:long}", (long id) =>
            s.Store.Get(id) is { } job ? Results.Json(View(s, job, files: true)) : UnknownJob(id));

        app.MapPost("/api/jobs", async (HttpRequest request) =>
        {
            JsonElement body;
            try
            {
                using var doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
                body = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                return Error(400, $"the request body is not JSON ({e.Message}); send {{\"stack\": \"PATH\", \"angles\": \"PATH\"}}");
            }
            if (body.ValueKind != JsonValueKind.Object) return Error(400, "send a JSON object {\"stack\": \"PATH\", \"angles\": \"PATH\"}");
            string? stackText = null, anglesText = null;
            foreach (var p in body.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String && p.Value.ValueKind != JsonValueKind.Null)
                    return Error(400, $"'{p.Name}' must be a string path");
                switch (p.Name)
                {
                    case "stack": stackText = p.Value.GetString(); break;
                    case "angles": anglesText = p.Value.GetString(); break;
                    default: return Error(400, $"unknown field '{p.Name}': send only stack and angles");
                }
            }
            var (stack, status, problem) = s.Guard.Check(stackText, s.Options.Watch);
            if (stack is null) return Error(status, "stack: " + problem);
            if (!File.Exists(stack)) return Error(400, $"stack: {stack} does not exist");
            if (!FolderWatcher.IsStack(stack)) return Error(400, $"stack: {stack} is not an MRC stack (.mrc or .st)");
            if (s.Store.FindByStack(stack) is { } existing)
                return Results.Json(new { error = $"{stack} is already job {existing.Id} ({existing.State})", job = View(s, existing, files: false) }, statusCode: 409);
            string? angles;
            if (anglesText is not null)
            {
                (angles, status, problem) = s.Guard.Check(anglesText, Path.GetDirectoryName(stack)!);
                if (angles is null) return Error(status, "angles: " + problem);
                if (!File.Exists(angles)) return Error(400, $"angles: {angles} does not exist");
            }
            else if ((angles = FolderWatcher.FindAngles(stack)) is null)
                return Error(400, $"no angle file beside {stack} (NAME.rawtlt, NAME.tlt or SerialEM's .mdoc): give \"angles\"");
            var (job, added) = s.Queue(stack, angles, "submitted through the API");
            return added
                ? Results.Created($"/api/jobs/{job.Id}", View(s, job, files: false))
                : Results.Json(new { error = $"{stack} is already job {job.Id} ({job.State})", job = View(s, job, files: false) }, statusCode: 409);
        });

        app.MapPost("/api/jobs/{id:long}/cancel", (long id) =>
        {
            if (s.Store.Get(id) is not { } job) return UnknownJob(id);
            if (s.Store.CancelQueued(id)) return Results.Json(View(s, s.Store.Get(id)!, files: false));
            if (job.State == JobStates.Running && s.CancelRunning(id))
                return Results.Json(View(s, s.Store.Get(id)!, files: false), statusCode: 202);
            return Error(409, $"job {id} is {job.State}: only queued or running jobs can be cancelled");
        });

        app.MapPost("/api/jobs/{id:long}/retry", (long id) =>
        {
            if (s.Store.Get(id) is not { } job) return UnknownJob(id);
            if (!s.Store.Retry(id)) return Error(409, $"job {id} is {job.State}: only failed or cancelled jobs can be retried");
            s.Wake();
            return Results.Json(View(s, s.Store.Get(id)!, files: false));
        });

        app.MapGet("/api/jobs/{id:long}/report", (long id) =>
        {
            if (s.Store.Get(id) is not { } job) return UnknownJob(id);
            string path = Path.Combine(s.JobFolder(job), job.Name + ".run.html");
            return File.Exists(path) ? Results.File(path, "text/html; charset=utf-8") : Error(404, $"job {id} has no report yet ({job.State})");
        });

        app.MapGet("/api/jobs/{id:long}/files", (long id) =>
            s.Store.Get(id) is { } job ? Results.Json(Files(s, job)) : UnknownJob(id));

        app.MapGet("/api/jobs/{id:long}/files/{name}", (long id, string name) =>
        {
            if (s.Store.Get(id) is not { } job) return UnknownJob(id);
            if (!PathGuard.IsPlainFileName(name)) return Error(400, $"'{name}' is not a plain file name of the job's output folder");
            string dir = s.JobFolder(job), path = Path.Combine(dir, name);
            if (Path.GetDirectoryName(Path.GetFullPath(path)) != dir || !File.Exists(path)) return Error(404, $"job {id} has no file '{name}'");
            if (PathGuard.RealPath(path) != path) return Error(403, $"'{name}' is a link");
            if (!ContentTypes.TryGetContentType(name, out var type)) type = "application/octet-stream";
            return Results.File(path, type, enableRangeProcessing: true);
        });

        // Anything else under /api is an unknown endpoint, answered in JSON like the other errors.
        app.Map("/api/{**rest}", (string? rest) => Error(404, $"no endpoint /api/{rest}"));
    }

    /// <summary>True for a browser request made by a page that is not this service's own (another origin).</summary>
    internal static bool IsCrossSite(HttpRequest request)
    {
        string site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Equals("cross-site", StringComparison.OrdinalIgnoreCase) || site.Equals("same-site", StringComparison.OrdinalIgnoreCase)) return true;
        string origin = request.Headers.Origin.ToString();
        if (origin.Length == 0) return false;
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var o)) return true;   // "null" and other opaque origins
        return !string.Equals(o.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    private static IResult UnknownJob(long id) => Error(404, $"there is no job {id}");

    private static string[] Files(ServeService s, Job job)
    {
        string dir = s.JobFolder(job);
        return Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir).Select(f => Path.GetFileName(f)).Where(PathGuard.IsPlainFileName).Order(StringComparer.Ordinal).ToArray()
            : [];
    }

    private static JobView View(ServeService s, Job j, bool files) =>
        new(j.Id, j.Name, j.State, j.Stage, j.Error, j.Stack, j.Angles, j.Attempts, j.Created, j.Started, j.Finished,
            File.Exists(Path.Combine(s.JobFolder(j), j.Name + ".run.html")) ? $"/api/jobs/{j.Id}/report" : null,
            files ? Files(s, j) : null);
}
