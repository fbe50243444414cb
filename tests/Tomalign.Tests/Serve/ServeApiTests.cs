using System.Net;
using System.Net.Http.Json;
using System.Text;
using Tomalign.Cli.Serve;
using Xunit;

namespace Tomalign.Tests.Serve;

/// <summary>The API refuses paths outside the configured folders and malformed requests with 4xx answers.</summary>
[Collection(ServeCollection.Name)]
public sealed class ServeApiTests
{
    private const string Secret = "top secret, outside the folders";

    [Fact]
    public async Task PathsOutsideTheFoldersAndMalformedRequestsAreRefused()
    {
        using var folders = new ServeFolders();
        string secret = Path.Combine(folders.Root, "secret.mrc");
        File.WriteAllText(secret, Secret);
        File.WriteAllText(Path.Combine(folders.Root, "secret.rawtlt"), "0\n");
        // A stack without an angle file: the watcher leaves it alone; the API can name it.
        File.WriteAllBytes(Path.Combine(folders.Watch, "lonely.mrc"), new byte[2000]);
        File.WriteAllText(Path.Combine(folders.Watch, "notes.txt"), "not a stack");
        File.CreateSymbolicLink(Path.Combine(folders.Watch, "link.mrc"), secret);
        Directory.CreateSymbolicLink(Path.Combine(folders.Watch, "elsewhere"), folders.Root);
        await using var serve = await InProcessServe.StartAsync(folders);
        var http = serve.Client.Http;

        async Task<HttpStatusCode> Submit(string body)
        {
            var response = await http.PostAsync("/api/jobs", new StringContent(body, Encoding.UTF8, "application/json"));
            string text = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain(Secret, text);
            if ((int)response.StatusCode is >= 400 and < 500) Assert.Contains("\"error\"", text);
            return response.StatusCode;
        }
        string J(string s) => System.Text.Json.JsonSerializer.Serialize(s);

        // Traversal and paths outside the folders.
        Assert.Equal(HttpStatusCode.BadRequest, await Submit($$"""{"stack": {{J("../secret.mrc")}}}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit($$"""{"stack": {{J(folders.Watch + "/../secret.mrc")}}}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit($$"""{"stack": {{J("..\\secret.mrc")}}}"""));
        Assert.Equal(HttpStatusCode.Forbidden, await Submit($$"""{"stack": {{J(secret)}}}"""));
        Assert.Equal(HttpStatusCode.Forbidden, await Submit("""{"stack": "/etc/passwd"}"""));
        Assert.Equal(HttpStatusCode.Forbidden, await Submit($$"""{"stack": {{J(folders.Watch + "-other/x.mrc")}}}""")); // a prefix is not inside
        Assert.Equal(HttpStatusCode.Forbidden, await Submit("""{"stack": "link.mrc"}""")); // a link out of the folder
        Assert.Equal(HttpStatusCode.Forbidden, await Submit("""{"stack": "elsewhere/secret.mrc"}""")); // a linked folder
        Assert.Equal(HttpStatusCode.Forbidden, await Submit("""{"stack": "lonely.mrc", "angles": "/etc/passwd"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": "lonely.mrc", "angles": "../secret.rawtlt"}"""));

        // Malformed requests.
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("{bad json"));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit(""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("[]"));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("{}"));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": 5}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": "lonely.mrc", "angels": "x"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": "missing.mrc"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": "notes.txt"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": "lonely.mrc"}""")); // no angle file beside it
        Assert.Equal(HttpStatusCode.BadRequest, await Submit("""{"stack": "a\u0000b.mrc"}"""));
        Assert.Empty(await serve.Client.JobsAsync());

        // A good submission (relative to the watched folder), then the same again.
        // (Its angles under a name the watcher does not pair with the stack, so only the API queues it.)
        File.WriteAllText(Path.Combine(folders.Watch, "lonely-angles.txt"), "0\n");
        Assert.Equal(HttpStatusCode.Created, await Submit("""{"stack": "lonely.mrc", "angles": "lonely-angles.txt"}"""));
        Assert.Equal(HttpStatusCode.Conflict, await Submit($$"""{"stack": {{J(Path.Combine(folders.Watch, "lonely.mrc"))}}}"""));
        var job = (await serve.Client.WaitForAsync(j => j.Count == 1 && j[0].State == JobStates.Failed, TimeSpan.FromSeconds(60), "the lonely job to fail"))[0];
        Assert.Equal("lonely", job.Name);

        // Unknown jobs and endpoints, ids that are not numbers.
        foreach (string url in new[] { "/api/jobs/999", "/api/jobs/abc", "/api/jobs/999/report", "/api/jobs/999/files", "/api/nothing", "/api/jobs/1/report" })
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(url)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/jobs/999/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/jobs/999/retry", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync($"/api/jobs/{job.Id}/cancel", null)).StatusCode); // failed: nothing to cancel

        // Another site's page may not act through the visitor's browser; the service's own page may.
        foreach (var (header, value) in new[] { ("Origin", "http://evil.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site") })
        {
            using var forged = new HttpRequestMessage(HttpMethod.Post, $"/api/jobs/{job.Id}/retry");
            forged.Headers.TryAddWithoutValidation(header, value);
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(forged)).StatusCode);
        }
        Assert.Equal(JobStates.Failed, (await serve.Client.JobsAsync())[0].State);
        using (var own = new HttpRequestMessage(HttpMethod.Post, $"/api/jobs/{job.Id}/cancel"))
        {
            own.Headers.TryAddWithoutValidation("Origin", http.BaseAddress!.GetLeftPart(UriPartial.Authority));
            own.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "same-origin");
            Assert.Equal(HttpStatusCode.Conflict, (await http.SendAsync(own)).StatusCode); // let through; a failed job has nothing to cancel
        }

        // A job's files: plain names inside its folder only.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/jobs/{job.Id}/files/lonely.serve.log")).StatusCode);
        File.CreateSymbolicLink(Path.Combine(folders.Out, "lonely", "leak.txt"), secret);
        foreach (string name in new[] { "..%2F..%2Fsecret.mrc", "..%5C..%5Csecret.mrc", "%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2Fsecret.mrc", ".hidden", "nothing.here", "leak.txt",
                     "..%2F..%2F..%2Fout%2Ftomalign-serve.db" })
        {
            var response = await http.GetAsync($"/api/jobs/{job.Id}/files/{name}");
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"{name}: {response.StatusCode}");
            Assert.DoesNotContain(Secret, await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task QueuedJobsCanBeCancelledAndRetried()
    {
        using var folders = new ServeFolders();
        // A slow first job keeps the second queued.
        await using var serve = await InProcessServe.StartAsync(folders,
            """{ "tiltAxis": 85, "beadDiameter": 6, "thickness": 40, "method": "sirt", "iterations": 20 }""");
        folders.Drop("first");
        await serve.Client.WaitForAsync(j => j.Count == 1 && j[0].State == JobStates.Running, TimeSpan.FromSeconds(30), "the first job to run");
        folders.Drop("second", seed: 3);
        var jobs = await serve.Client.WaitForAsync(j => j.Count == 2, TimeSpan.FromSeconds(30), "the second job to be queued");
        var second = jobs.Single(j => j.Name == "second");
        Assert.Equal(JobStates.Queued, second.State);
        var cancel = await serve.Client.Http.PostAsync($"/api/jobs/{second.Id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(JobStates.Cancelled, (await cancel.Content.ReadFromJsonAsync<ApiJob>(ServeClient.Json))!.State);

        // The running one is cancelled at its next stage boundary.
        var first = jobs.Single(j => j.Name == "first");
        Assert.Equal(HttpStatusCode.Accepted, (await serve.Client.Http.PostAsync($"/api/jobs/{first.Id}/cancel", null)).StatusCode);
        await serve.Client.WaitForAsync(j => j.Single(x => x.Id == first.Id).State is JobStates.Cancelled or JobStates.Done, TimeSpan.FromSeconds(60),
            "the running job to stop");

        Assert.Equal(HttpStatusCode.OK, (await serve.Client.Http.PostAsync($"/api/jobs/{second.Id}/retry", null)).StatusCode);
        await serve.Client.WaitForAsync(j => j.Single(x => x.Id == second.Id).State == JobStates.Done, TimeSpan.FromSeconds(120), "the retried job");
        Assert.Equal(2, (await serve.Client.JobsAsync()).Count);
    }

    /// <summary>
    /// DNS rebinding: a page of attacker.example whose name is made to resolve to 127.0.0.1 is same-origin to the browser
    /// (its Origin equals its Host), so only the Host check stops it reading the files endpoints or queueing jobs.
    /// </summary>
    [Fact]
    public async Task OnlyTheNamesTheServiceListensAsAreAnswered()
    {
        using var folders = new ServeFolders();
        await using var serve = await InProcessServe.StartAsync(folders);
        int port = new Uri(serve.Service.Address).Port;
        async Task<(HttpStatusCode Status, string Body)> Send(HttpMethod method, string host, string path, string? origin = null)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Host = host;
            if (origin is not null) request.Headers.Add("Origin", origin);
            if (method == HttpMethod.Post) request.Content = new StringContent("""{"stack": "a.mrc"}""", Encoding.UTF8, "application/json");
            using var response = await serve.Client.Http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        foreach (string host in new[] { $"127.0.0.1:{port}", $"localhost:{port}", $"LOCALHOST:{port}", "localhost" })
            Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, host, "/api/jobs")).Status);
        foreach (string host in new[] { $"attacker.example:{port}", $"127.0.0.1.attacker.example:{port}", "localhost.attacker.example", "10.0.0.1" })
            foreach (string path in new[] { "/", "/api/jobs", "/api/jobs/1/files/x.mrc", "/api/jobs/1/report" })
            {
                var (status, body) = await Send(HttpMethod.Get, host, path);
                Assert.True(status == HttpStatusCode.MisdirectedRequest, $"GET {path} as {host}: {status}");
                Assert.Contains($"not as '{host.Split(':')[0]}'", System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
            }
        // The rebinding page posts with its own origin, which equals its Host: refused, and nothing is queued.
        var post = await Send(HttpMethod.Post, $"attacker.example:{port}", "/api/jobs", origin: $"http://attacker.example:{port}");
        Assert.Equal(HttpStatusCode.MisdirectedRequest, post.Status);
        Assert.Empty(await serve.Client.JobsAsync());
    }

    [Fact]
    public void TheHostsOfTheListeningAddressesAreAccepted()
    {
        var loopback = new HostFilter("http://127.0.0.1:5080");
        Assert.True(loopback.Accepts("localhost") && loopback.Accepts("127.0.0.1") && loopback.Accepts("[::1]"));
        Assert.False(loopback.Accepts("tomo.lab.example"));
        Assert.False(loopback.Accepts(""));
        var named = new HostFilter("http://tomo.lab.example:5080;http://[::1]:0");
        Assert.True(named.Accepts("tomo.lab.example") && named.Accepts("TOMO.lab.example."));
        Assert.False(named.Accepts("lab.example"));
        var all = new HostFilter("http://0.0.0.0:5080");
        Assert.True(all.Accepts(Environment.MachineName));
        Assert.False(all.Accepts("attacker.example"));
        Assert.Equal("[::1]", HostFilter.HostOf("http://[::1]:0"));
        Assert.Equal("*", HostFilter.HostOf("http://*:80"));
        Assert.Equal("tomo", HostFilter.HostOf("https://tomo/"));
    }
}
