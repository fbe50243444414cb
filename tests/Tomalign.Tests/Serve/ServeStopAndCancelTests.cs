using System.Diagnostics;
using System.Net;
using Tomalign.Cli;
using Tomalign.Cli.Serve;
using Tomalign.Core;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Serve;

/// <summary>
/// Issue 15: a cancel of a job in its last stage (the reconstruction) is applied, a graceful stop ends a long SIRT
/// cleanly within the grace period (queued again, nothing half-written), and --urls is checked before anything listens.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class ServeStopAndCancelTests
{
    /// <summary>A SIRT far longer than any test waits (minutes on two cores): only a cancel can end it in time.</summary>
    private const string EndlessSirt = """{ "tiltAxis": 85, "beadDiameter": 5, "thickness": 40, "method": "sirt", "iterations": 20000 }""";

    private static string[] Leftovers(string dir) => Directory.GetFiles(dir, "*.tmp-*").Concat(Directory.GetFiles(dir, ".*.tmp-*")).ToArray();

    [Fact]
    public async Task ACancelDuringTheReconstructionIsApplied()
    {
        using var folders = new ServeFolders();
        await using var serve = await InProcessServe.StartAsync(folders, EndlessSirt);
        folders.Drop("alpha");
        var jobs = await serve.Client.WaitForAsync(j => j.Count == 1 && j[0] is { State: JobStates.Running, Stage: "reconstruct" }, TimeSpan.FromSeconds(120),
            "alpha to reach its reconstruction", pollMs: 50);
        await Task.Delay(300);   // well inside the SIRT
        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.Accepted, (await serve.Client.Http.PostAsync($"/api/jobs/{jobs[0].Id}/cancel", null)).StatusCode);
        // It was accepted and never applied: the reconstruction ran to its end and the job was "done".
        await serve.Client.WaitForAsync(j => j[0].State == JobStates.Cancelled, TimeSpan.FromSeconds(30), "the cancel to reach the reconstruction");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));
        string dir = Path.Combine(folders.Out, "alpha");
        Assert.False(File.Exists(Path.Combine(dir, "alpha.rec")), "a tomogram was committed after the cancel");
        Assert.Empty(Leftovers(dir));
    }

    [Fact]
    public async Task AGracefulStopEndsALongSirtCleanlyWithinTheGracePeriod()
    {
        using var folders = new ServeFolders();
        var serve = await InProcessServe.StartAsync(folders, EndlessSirt, graceSeconds: 4);
        Stopwatch clock;
        try
        {
            folders.Drop("alpha");
            await serve.Client.WaitForAsync(j => j.Count == 1 && j[0] is { State: JobStates.Running, Stage: "reconstruct" }, TimeSpan.FromSeconds(120),
                "alpha to reach its reconstruction", pollMs: 50);
        }
        finally
        {
            clock = Stopwatch.StartNew();
            await serve.DisposeAsync();
        }
        // The stage was cancelled once most of the grace period had passed: the job stopped (it was abandoned, its SIRT running on).
        // (The serve log goes with every failure: a failure seen once in a clean-clone CI run, under the load of the whole
        // suite, could not be reproduced alone and left nothing to read.)
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12), $"the stop took {clock.Elapsed.TotalSeconds:F1} s; serve log:\n{serve.Log}");
        Assert.False(serve.Log.Contains("abandoned"), $"the job was abandoned; serve log:\n{serve.Log}");
        Assert.True(serve.Log.Contains("stopped by the shutdown, queued again"), $"the job was not queued again; serve log:\n{serve.Log}");
        using (var store = JobStore.Open(Path.Combine(folders.Out, ServeService.DatabaseName)))
        {
            var job = store.List().Single();
            Assert.True(job.State == JobStates.Queued, $"job {job.State}, not queued; serve log:\n{serve.Log}");
            Assert.Equal(1, job.Attempts);
        }
        string dir = Path.Combine(folders.Out, "alpha");
        Assert.False(File.Exists(Path.Combine(dir, "alpha.rec")));
        Assert.True(File.Exists(Path.Combine(dir, "alpha.ali")), $"the aligned stack, for the resume, is missing; serve log:\n{serve.Log}");
        Assert.True(Leftovers(dir).Length == 0, $"left over: {string.Join(", ", Leftovers(dir))}; serve log:\n{serve.Log}");
    }

    [Theory]
    [InlineData("http://127.0.0.1:abc", "is not a port")]
    [InlineData("http://127.0.0.1", "is not a port")]
    [InlineData("http://127.0.0.1:70000", "is not a port")]
    [InlineData("ftp://127.0.0.1:5080", "not http or https")]
    [InlineData("http://example.org:5080", "not an IP address")]
    [InlineData("127.0.0.1:5080", "is not an address")]
    [InlineData("http://127.0.0.1:5080/jobs", "has a path")]
    [InlineData("", "is empty")]
    public void BadUrlsAreRefused(string urls, string why)
    {
        var e = Assert.Throws<TomalignInputException>(() => ServeService.ValidateUrls(urls));
        Assert.Contains(why, e.Message);
        Assert.Contains("Fix:", e.Message);
    }

    [Theory]
    [InlineData("http://127.0.0.1:0")]
    [InlineData("http://localhost:5080")]
    [InlineData("http://[::1]:5080")]
    [InlineData("http://0.0.0.0:5080;https://127.0.0.1:5081")]
    [InlineData("http://*:5080")]
    public void GoodUrlsPass(string urls) => ServeService.ValidateUrls(urls);

    /// <summary>`serve --urls http://127.0.0.1:abc` ends with exit 2 before listening (it listened on every interface, port 80).</summary>
    [Fact]
    public void ServeWithABadPortExitsWithoutListening()
    {
        using var folders = new ServeFolders();
        var r = CliRunner.Run("serve", "--watch", folders.Watch, "--out", folders.Out, "--urls", "http://127.0.0.1:abc");
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("'abc' is not a port", r.Err);
        Assert.DoesNotContain("listening on", r.Out);
        Assert.False(Directory.Exists(folders.Out), "the output folder was made before the address was checked");
    }
}
