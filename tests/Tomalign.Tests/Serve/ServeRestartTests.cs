using System.Diagnostics;
using System.Text.Json;
using Tomalign.Cli.Serve;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Serve;

/// <summary>
/// The queue survives the service: killed (SIGKILL) in the middle of a job and started again, it does not
/// redo the finished job and completes the interrupted one from its last completed stage; stopped
/// gracefully, it lets the running stage finish and keeps the rest queued.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class ServeRestartTests(ITestOutputHelper output)
{
    /// <summary>SIRT makes the last stage long enough (several seconds) to be killed in.</summary>
    private const string SlowSettings = """{ "tiltAxis": 85, "beadDiameter": 6, "thickness": 40, "method": "sirt", "iterations": 25 }""";

    [Fact]
    public async Task AServiceKilledMidJobResumesWithoutRedoingOrLosingJobs()
    {
        using var folders = new ServeFolders();
        string settings = Path.Combine(folders.Root, "settings.json");
        File.WriteAllText(settings, SlowSettings);

        var first = ServeProcess.Start(folders, settings, output);
        try
        {
            folders.Drop("alpha");
            await first.Client.WaitForAsync(j => j.Count == 1 && j[0].State == JobStates.Done, TimeSpan.FromSeconds(120), "alpha to be done");
            string alphaReport = Path.Combine(folders.Out, "alpha", "alpha.run.json");
            var alphaWritten = File.GetLastWriteTimeUtc(alphaReport);
            string alphaJson = File.ReadAllText(alphaReport);

            folders.Drop("beta", seed: 2);
            await first.Client.WaitForAsync(j => j.Count == 2 && j[1] is { State: JobStates.Running, Stage: "reconstruct" }, TimeSpan.FromSeconds(120),
                "beta to reach its reconstruction", pollMs: 50);
            first.Kill();
            // Killed with the job marked running and its reconstruction unwritten.
            Assert.False(File.Exists(Path.Combine(folders.Out, "beta", "beta.rec")), "the kill came too late: beta was already reconstructed");
            Assert.True(File.Exists(Path.Combine(folders.Out, "beta", "beta.prexg")));
        }
        finally { first.Dispose(); }

        using var second = ServeProcess.Start(folders, settings, output);
        var jobs = await second.Client.WaitForAsync(j => j.Count == 2 && j.All(x => x.State == JobStates.Done), TimeSpan.FromSeconds(120),
            "both jobs to be done after the restart");
        var alpha = jobs.Single(j => j.Name == "alpha");
        var beta = jobs.Single(j => j.Name == "beta");
        Assert.Equal(1, alpha.Attempts); // not redone
        Assert.Equal(2, beta.Attempts);  // once interrupted, once completed
        Assert.Equal([1L, 2L], jobs.Select(j => j.Id));

        string alphaReportPath = Path.Combine(folders.Out, "alpha", "alpha.run.json");
        Assert.True(File.Exists(alphaReportPath));
        // The resumed job reused the stages the killed attempt completed: no coarse alignment, no landmarks.
        using var betaReport = JsonDocument.Parse(File.ReadAllText(Path.Combine(folders.Out, "beta", "beta.run.json")));
        var stages = betaReport.RootElement.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain("coarse", stages);
        Assert.DoesNotContain("landmarks", stages);
        Assert.Contains("reconstruct", stages);
        Assert.Contains("--resume", betaReport.RootElement.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()));
        Assert.True(File.Exists(Path.Combine(folders.Out, "beta", "beta.rec")));
        // Nothing half-written is left behind, and no series got a second folder.
        Assert.Empty(Directory.GetFiles(folders.Out, "*.tmp-*", SearchOption.AllDirectories));
        Assert.Equal(["alpha", "beta"], Directory.GetDirectories(folders.Out).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SigtermStopsTheProcessCleanly()
    {
        using var folders = new ServeFolders();
        string settings = Path.Combine(folders.Root, "settings.json");
        File.WriteAllText(settings, ServeFolders.FastSettings);
        using var serve = ServeProcess.Start(folders, settings, output);
        Assert.Empty(await serve.Client.JobsAsync());
        var (exit, stderr) = serve.Terminate();
        Assert.True(exit == 0, $"exit {exit}; stderr:\n{stderr}");
        Assert.Contains("stopped; the queue is in", stderr);
    }

    [Fact]
    public async Task AGracefulStopLetsTheRunningStageFinishAndKeepsTheQueue()
    {
        using var folders = new ServeFolders();
        var serve = await InProcessServe.StartAsync(folders, SlowSettings, graceSeconds: 60);
        try
        {
            folders.Drop("alpha");
            await serve.Client.WaitForAsync(j => j.Count == 1 && j[0] is { State: JobStates.Running, Stage: "reconstruct" }, TimeSpan.FromSeconds(120),
                "alpha to reach its reconstruction", pollMs: 50);
            folders.Drop("beta", seed: 2);
            await serve.Client.WaitForAsync(j => j.Count == 2, TimeSpan.FromSeconds(30), "beta to be queued");
        }
        finally
        {
            await serve.DisposeAsync(); // stop: the reconstruction in progress finishes, beta stays queued
        }
        using (var store = JobStore.Open(Path.Combine(folders.Out, ServeService.DatabaseName)))
        {
            var jobs = store.List();
            Assert.Equal(JobStates.Done, jobs.Single(j => j.Name == "alpha").State);
            Assert.Equal(JobStates.Queued, jobs.Single(j => j.Name == "beta").State);
            Assert.Equal(0, jobs.Single(j => j.Name == "beta").Attempts);
        }
        Assert.Contains("stopped; the queue is in", serve.Log);

        await using var again = await InProcessServe.StartAsync(folders, SlowSettings);
        var done = await again.Client.WaitForAsync(j => j.Count == 2 && j.All(x => x.State == JobStates.Done), TimeSpan.FromSeconds(120), "beta after the restart");
        Assert.Equal(1, done.Single(j => j.Name == "alpha").Attempts);
        Assert.Equal(1, done.Single(j => j.Name == "beta").Attempts);
    }
}

/// <summary>`tomalign serve` in its own process (dotnet tomalign.dll from the test output), so that it can be killed.</summary>
internal sealed class ServeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper _output;
    private readonly StringWriter _stderr;

    private ServeProcess(Process process, string address, ITestOutputHelper output, StringWriter stderr)
    {
        _process = process;
        _output = output;
        _stderr = stderr;
        Client = new ServeClient(address);
    }

    public ServeClient Client { get; }

    public static ServeProcess Start(ServeFolders folders, string settings, ITestOutputHelper output, params string[] extra)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "tomalign.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing");
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "tomalign.runtimeconfig.json")), "tomalign.runtimeconfig.json is missing");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        string[] args = [dll, "serve", "--watch", folders.Watch, "--out", folders.Out, "--settings", settings,
            "--urls", "http://127.0.0.1:0", "--settle", "0.3", .. extra];
        foreach (string a in args) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var stderr = new StringWriter();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Log(output, "serve: " + e.Data);
            lock (stderr) stderr.WriteLine(e.Data);
        };
        process.BeginErrorReadLine();
        // The first line says where it listens (port 0: the port the system gave).
        var line = process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(60)) || line.Result is not { } first || !first.StartsWith("listening on "))
        {
            try { process.Kill(true); } catch (InvalidOperationException) { }
            throw new InvalidOperationException($"tomalign serve did not say where it listens (exit {(process.HasExited ? process.ExitCode : -1)})");
        }
        return new ServeProcess(process, first["listening on ".Length..].Trim(), output, stderr);
    }

    /// <summary>SIGKILL: no chance to clean up.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
        Log(_output, $"killed process {_process.Id}");
    }

    /// <summary>SIGTERM, as a service manager stops it: returns the exit code and what it wrote to stderr.</summary>
    public (int Exit, string Stderr) Terminate()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        Assert.True(_process.WaitForExit(30_000), "tomalign serve did not stop within 30 s of SIGTERM");
        _process.WaitForExit(); // the end of the redirected streams
        lock (_stderr) return (_process.ExitCode, _stderr.ToString());
    }

    private static void Log(ITestOutputHelper output, string line)
    {
        try { output.WriteLine(line); } catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }
}
