using System.Net;
using System.Text.Json;
using Tomalign.Cli.Serve;
using Xunit;

namespace Tomalign.Tests.Serve;

/// <summary>The service end to end: series dropped into the watched folder are queued, run and reported.</summary>
[Collection(ServeCollection.Name)]
public sealed class ServeIntegrationTests
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task TwoSeriesAreDoneAndACorruptOneFailsWithoutHarmingThem()
    {
        using var folders = new ServeFolders();
        await using var serve = await InProcessServe.StartAsync(folders);
        Assert.StartsWith("http://127.0.0.1:", serve.Service.Address);

        folders.Drop("alpha");
        folders.DropCorrupt("broken");
        folders.Drop("beta", mdoc: true, seed: 2); // SerialEM's .mdoc instead of a .rawtlt
        folders.Drop("sparse", seed: 4, beads: 3);  // too few beads to align: outputs written, but not `done`

        var jobs = await serve.Client.WaitForAsync(j => j.Count == 4 && j.All(x => x.State is JobStates.Done or JobStates.Failed or JobStates.Unreliable),
            JobTimeout, "four jobs to end");
        var byName = jobs.ToDictionary(j => j.Name);
        Assert.Equal(JobStates.Done, byName["alpha"].State);
        Assert.Equal(JobStates.Done, byName["beta"].State);
        var broken = byName["broken"];
        Assert.Equal(JobStates.Failed, broken.State);
        // One clear line naming the file and the fix, not a stack trace.
        Assert.NotNull(broken.Error);
        Assert.Contains("broken.mrc", broken.Error);
        Assert.Contains("Fix:", broken.Error);
        Assert.DoesNotContain("   at ", broken.Error);
        Assert.Null(broken.Report);
        // An alignment the verdict calls unreliable is not shown as done: its reasons are the job's error, its report is there.
        var sparse = byName["sparse"];
        Assert.Equal(JobStates.Unreliable, sparse.State);
        Assert.StartsWith("alignment unreliable: ", sparse.Error);
        Assert.Equal($"/api/jobs/{sparse.Id}/report", sparse.Report);
        using (var sparseReport = JsonDocument.Parse(File.ReadAllText(Path.Combine(folders.Out, "sparse", "sparse.run.json"))))
            Assert.Equal("unreliable", sparseReport.RootElement.GetProperty("quality").GetProperty("verdict").GetString());
        Assert.Contains("quality: unreliable", File.ReadAllText(Path.Combine(folders.Out, "sparse", "sparse.serve.log")));

        foreach (string name in new[] { "alpha", "beta" })
        {
            var job = byName[name];
            Assert.Equal(1, job.Attempts);
            Assert.Null(job.Error);
            Assert.Equal($"/api/jobs/{job.Id}/report", job.Report);
            string dir = Path.Combine(folders.Out, name);
            foreach (string ext in new[] { ".rec", ".ali", ".xf", ".run.html", ".run.json", ".serve.log" })
                Assert.True(File.Exists(Path.Combine(dir, name + ext)), $"{name}{ext} missing in {dir}");
            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name + ".run.json")));
            Assert.Equal("run", report.RootElement.GetProperty("command").GetString());
            Assert.Contains(report.RootElement.GetProperty("stages").EnumerateArray(), s => s.GetProperty("name").GetString() == "reconstruct");
            Assert.Equal("good", report.RootElement.GetProperty("quality").GetProperty("verdict").GetString());

            // The report and the outputs come through the API.
            var html = await serve.Client.Http.GetAsync(job.Report);
            Assert.Equal(HttpStatusCode.OK, html.StatusCode);
            Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
            Assert.Contains("<html", await html.Content.ReadAsStringAsync());
            var details = await serve.Client.JobAsync(job.Id);
            Assert.Contains(name + ".rec", details.Files!);
            var rec = await serve.Client.Http.GetAsync($"/api/jobs/{job.Id}/files/{name}.rec");
            Assert.Equal(HttpStatusCode.OK, rec.StatusCode);
            Assert.Equal(new FileInfo(Path.Combine(dir, name + ".rec")).Length, (await rec.Content.ReadAsByteArrayAsync()).Length);
        }

        // The mdoc's angles went into the job's folder as a .rawtlt; the watched folder was not written to.
        Assert.True(File.Exists(Path.Combine(folders.Out, "beta", "beta.rawtlt")));
        Assert.Equal(["alpha.mrc", "alpha.rawtlt", "beta.mrc", "beta.mrc.mdoc", "broken.mrc", "broken.rawtlt", "sparse.mrc", "sparse.rawtlt"],
            Directory.GetFiles(folders.Watch).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // A failed job can be retried (it fails again, the same way); a done one cannot.
        var retry = await serve.Client.Http.PostAsync($"/api/jobs/{broken.Id}/retry", null);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        await serve.Client.WaitForAsync(j => j.Single(x => x.Id == broken.Id) is { State: JobStates.Failed, Attempts: 2 }, JobTimeout, "the retried job");
        Assert.Equal(HttpStatusCode.Conflict, (await serve.Client.Http.PostAsync($"/api/jobs/{byName["alpha"].Id}/retry", null)).StatusCode);
        Assert.Equal(4, (await serve.Client.JobsAsync()).Count);
    }

    [Fact]
    public async Task TwoWorkersRunTwoJobsAtOnceAndOneByDefault()
    {
        const string slow = """{ "tiltAxis": 85, "beadDiameter": 6, "thickness": 40, "method": "sirt", "iterations": 15 }""";
        foreach (int workers in new[] { 2, 1 })
        {
            using var folders = new ServeFolders();
            await using var serve = await InProcessServe.StartAsync(folders, slow, workers: workers);
            folders.Drop("alpha");
            folders.Drop("beta", seed: 2);
            int mostRunning = 0;
            await serve.Client.WaitForAsync(j =>
            {
                mostRunning = Math.Max(mostRunning, j.Count(x => x.State == JobStates.Running));
                return j.Count == 2 && j.All(x => x.State == JobStates.Done);
            }, JobTimeout, $"both jobs with {workers} worker(s)");
            Assert.Equal(workers, mostRunning);
        }
    }

    [Fact]
    public async Task AFileStillBeingWrittenIsQueuedOnlyOnceItSettles()
    {
        using var folders = new ServeFolders();
        folders.Drop("gamma");
        // Take the stack back and write it into the watched folder slowly, in pieces, with the angles there first.
        string stack = Path.Combine(folders.Watch, "gamma.mrc");
        byte[] bytes = File.ReadAllBytes(stack);
        File.Delete(stack);
        var store = JobStore.Open(Path.Combine(folders.Root, "q.db"));
        var queued = new List<string>();
        var watcher = new FolderWatcher(folders.Watch, TimeSpan.FromSeconds(5), (s, a) => { queued.Add(s); store.Add(s, a, "{}"); }, store.HasStack,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var t = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        using (var fs = new FileStream(stack, FileMode.CreateNew))
        {
            for (int part = 0; part < 4; part++)
            {
                fs.Write(bytes, part * (bytes.Length / 5), bytes.Length / 5);
                fs.Flush();
                t += TimeSpan.FromSeconds(3); // growing: never 5 s without a change
                watcher.ScanOnce(t);
                Assert.Empty(queued);
            }
            fs.Write(bytes, 4 * (bytes.Length / 5), bytes.Length - 4 * (bytes.Length / 5)); // the last piece
        }
        watcher.ScanOnce(t += TimeSpan.FromSeconds(1));
        watcher.ScanOnce(t += TimeSpan.FromSeconds(4));
        Assert.Empty(queued);
        watcher.ScanOnce(t += TimeSpan.FromSeconds(2));
        Assert.Equal([Path.GetFullPath(stack)], queued);
        watcher.ScanOnce(t += TimeSpan.FromSeconds(60));
        Assert.Single(queued); // once
        store.Dispose();
    }
}
