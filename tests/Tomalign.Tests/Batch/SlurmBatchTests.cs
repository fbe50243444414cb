using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Tomalign.Cli;
using Tomalign.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Batch;

/// <summary>
/// `tomalign batch --executor slurm` on a real single-node SLURM (tools/slurm-test-cluster.sh: slurmctld, slurmd, munge):
/// four series, one corrupt; one task requeued by SLURM in the middle of its run. The three good ones end done, with
/// outputs identical to `--executor local`'s; the corrupt one fails once with its message; the requeued one resumes from
/// its last finished stage. Skipped, with the script's reason, only where SLURM cannot be started.
/// </summary>
[Trait("Category", "Slurm")]
[Collection(SlurmCollection.Name)]
public sealed class SlurmBatchTests(ITestOutputHelper output)
{
    private const string Settings = """
        { "beadDiameter": 6, "thickness": 40, "device": "cpu",
          "slurm": { "cpus": 1, "memory": "1G", "time": "00:10:00", "pollSeconds": 0.5 } }
        """;

    [SkippableFact]
    public async Task ABatchOnSlurmFinishesFailsAndResumesLikeALocalBatch()
    {
        var clock = Stopwatch.StartNew();
        Skip.IfNot(SlurmCluster.Start(out string why), why);
        using var dir = new TempDir();
        string input = Path.Combine(dir.Path, "in");
        Directory.CreateDirectory(input);
        foreach (var (name, seed) in new[] { ("s1", 1), ("s2", 2), ("s3", 3) })
        {
            var sim = CliRunner.Run("simulate", "--out", input, "--name", name, "--size", "128", "--tilt-step", "10", "--bead-radius", "3",
                "--beads", "10", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--quiet");
            Assert.True(sim.ExitCode == ExitCodes.Ok, sim.ToString());
        }
        // A "stack" that is not an MRC file, with good angles: bad input.
        File.WriteAllBytes(Path.Combine(input, "bad.mrc"), Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray());
        File.Copy(Path.Combine(input, "s1.rawtlt"), Path.Combine(input, "bad.rawtlt"));
        string settings = dir.File("settings.json");
        File.WriteAllText(settings, Settings);
        string slurmOut = Path.Combine(dir.Path, "slurm"), localOut = Path.Combine(dir.Path, "local");

        // The SLURM batch, in the background, while this test requeues s2's task once its coarse stage is recorded.
        var batch = Task.Run(() => CliRunner.Run("batch", input, "--out", slurmOut, "--settings", settings, "--executor", "slurm"));
        string s2 = Path.Combine(slurmOut, "s2");
        string? task = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline && !batch.IsCompleted)
        {
            if (File.Exists(Path.Combine(s2, "s2.stages.json")) && !File.Exists(Path.Combine(s2, "s2.run.json")) &&
                File.ReadAllText(Path.Combine(s2, "s2.stages.json")).Contains("\"coarse\"", StringComparison.Ordinal))
            {
                task = File.ReadLines(Path.Combine(s2, "s2.slurm.log")).First().Split(' ')[3].TrimEnd(',');
                break;
            }
            await Task.Delay(50);
        }
        Assert.True(task is not null, "s2 never showed a finished coarse stage before its end: " + (batch.IsCompleted ? batch.Result.ToString() : "timed out"));
        output.WriteLine($"requeueing {task} after its coarse stage ({clock.Elapsed.TotalSeconds:F1} s)");
        Assert.Equal(0, SlurmCluster.Run("scontrol", "requeue", task!).Code);
        // A requeued job waits ~2 minutes (BeginTime); release it once it is back in the queue.
        for (int i = 0; i < 100 && !SlurmCluster.Run("squeue", "-h", "-r", "-j", task!, "-o", "%T").Out.Contains("PENDING", StringComparison.Ordinal); i++)
            await Task.Delay(100);
        Assert.Equal(0, SlurmCluster.Run("scontrol", "update", $"JobId={task}", "StartTime=now").Code);

        var done = await Task.WhenAny(batch, Task.Delay(TimeSpan.FromSeconds(120)));
        Assert.True(done == batch, "the SLURM batch did not end within 120 s");
        var r = batch.Result;
        output.WriteLine(r.ToString());
        output.WriteLine($"SLURM batch ended after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(r.ExitCode == ExitCodes.BatchFailed, r.ToString());

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(slurmOut, "tomalign-batch.json")))!;
        var series = summary["series"]!.AsArray().ToDictionary(s => s!["name"]!.GetValue<string>(), s => s!);
        Assert.Equal(["bad", "s1", "s2", "s3"], series.Keys.Order());
        foreach (string name in new[] { "s1", "s2", "s3" })
            Assert.True(series[name]["state"]!.GetValue<string>() == "done", $"{name}: {series[name].ToJsonString()}");
        // Bad input: failed once, with the run's own message naming the file.
        Assert.Equal("failed", series["bad"]["state"]!.GetValue<string>());
        Assert.Equal(1, series["bad"]["attempts"]!.GetValue<int>());
        string error = series["bad"]["error"]!.GetValue<string>();
        Assert.Contains("bad.mrc", error);
        Assert.Contains("'MAP '", error);
        // The tasks ran the built tomalign, named in the summary.
        Assert.True(File.Exists(summary["tomalign"]!.AsArray().Last()!.GetValue<string>()));

        // s2 was requeued by SLURM (restart 1 of the same task) and resumed: its coarse stage reused, the rest redone.
        string s2Log = File.ReadAllText(Path.Combine(s2, "s2.slurm.log"));
        Assert.Contains($"SLURM task {task}, restart 1", s2Log);
        var resume = JsonNode.Parse(File.ReadAllText(Path.Combine(s2, "s2.run.json")))!["resume"]!;
        Assert.Contains("coarse", resume["reused"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Contains("reconstruct", resume["redone"]!.AsArray().Select(n => n!.GetValue<string>()));

        // The same batch on this machine: the same outputs, to the bit (the MRC labels, which hold the time, aside).
        var local = CliRunner.Run("batch", input, "--out", localOut, "--settings", settings, "--executor", "local", "--workers", "2");
        Assert.True(local.ExitCode == ExitCodes.BatchFailed, local.ToString());
        foreach (string name in new[] { "s1", "s2", "s3" })
        {
            var files = Directory.GetFiles(Path.Combine(localOut, name)).Select(Path.GetFileName).Where(IsOutput).Order().ToList();
            Assert.Contains($"{name}.rec", files);
            Assert.Contains($"{name}.xf", files);
            foreach (string? file in files)
                Assert.True(SameOutput(Path.Combine(localOut, name, file!), Path.Combine(slurmOut, name, file!)), $"{name}/{file} differs between local and SLURM");
        }
        output.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");
    }

    [SkippableFact]
    public async Task CancellingABatchOnSlurmCancelsItsJobs()
    {
        Skip.IfNot(SlurmCluster.Start(out string why), why);
        using var dir = new TempDir();
        string input = Path.Combine(dir.Path, "in");
        var sim = CliRunner.Run("simulate", "--out", input, "--name", "c1", "--size", "128", "--tilt-step", "10", "--beads", "10", "--seed", "4", "--quiet");
        Assert.True(sim.ExitCode == ExitCodes.Ok, sim.ToString());
        File.Copy(Path.Combine(input, "c1.mrc"), Path.Combine(input, "c2.mrc"));
        File.Copy(Path.Combine(input, "c1.rawtlt"), Path.Combine(input, "c2.rawtlt"));
        string settings = dir.File("settings.json");
        File.WriteAllText(settings, Settings);
        string outDir = Path.Combine(dir.Path, "out");
        using var cancel = new CancellationTokenSource();
        var o = new StringWriter();
        var e = new StringWriter();
        var batch = Task.Run(() => CliApp.Run(["batch", input, "--out", outDir, "--settings", settings, "--executor", "slurm"], o, e, cancel.Token));
        // Cancelled (as Ctrl-C does) once both tasks have started.
        for (int i = 0; i < 300 && !(File.Exists(Path.Combine(outDir, "c1", "c1.slurm.log")) && File.Exists(Path.Combine(outDir, "c2", "c2.slurm.log"))); i++)
            await Task.Delay(100);
        string jobName = File.ReadLines(Directory.GetFiles(Path.Combine(outDir, ".tomalign-batch"), "*.sbatch").Single())
            .Single(l => l.StartsWith("#SBATCH --job-name=", StringComparison.Ordinal))["#SBATCH --job-name=".Length..];
        cancel.Cancel();
        Assert.True(await Task.WhenAny(batch, Task.Delay(TimeSpan.FromSeconds(30))) == batch, "the batch did not end within 30 s of its cancellation");
        output.WriteLine(o.ToString() + e);
        Assert.Equal(ExitCodes.Cancelled, batch.Result);
        // Its array leaves SLURM (after its tasks are killed: KillWait), and both series are recorded cancelled.
        for (int i = 0; i < 60 && SlurmCluster.Run("squeue", "-h", "-o", "%j").Out.Contains(jobName, StringComparison.Ordinal); i++)
            await Task.Delay(250);
        Assert.DoesNotContain(jobName, SlurmCluster.Run("squeue", "-h", "-o", "%j").Out);
        string arrayJob = ArrayJob(e.ToString());
        Assert.NotEqual("", arrayJob);
        Assert.Contains("JobState=CANCELLED", SlurmCluster.Run("scontrol", "show", "job", "-o", arrayJob).Out);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "tomalign-batch.json")))!;
        Assert.Equal(2, summary["counts"]!["cancelled"]!.GetValue<int>());
    }

    /// <summary>The array job id a batch's log names ("submitted N series as SLURM array job ID").</summary>
    private static string ArrayJob(string log) =>
        System.Text.RegularExpressions.Regex.Match(log, @"SLURM array job (\d+)").Groups[1].Value;

    /// <summary>The run's outputs, not its reports and logs (which hold times and paths).</summary>
    private static bool IsOutput(string? file) =>
        file is not null && !file.EndsWith(".json", StringComparison.Ordinal) && !file.EndsWith(".html", StringComparison.Ordinal) &&
        !file.EndsWith(".log", StringComparison.Ordinal) && !file.EndsWith(".slurm-exit", StringComparison.Ordinal);

    /// <summary>Byte-identical, except an MRC file's ten 80-character labels (bytes 224–1023: they hold the time of writing).</summary>
    internal static bool SameOutput(string a, string b)
    {
        if (!File.Exists(b)) return false;
        byte[] x = File.ReadAllBytes(a), y = File.ReadAllBytes(b);
        if (x.Length != y.Length) return false;
        bool mrc = a.EndsWith(".ali", StringComparison.Ordinal) || a.EndsWith(".rec", StringComparison.Ordinal) || a.EndsWith(".mrc", StringComparison.Ordinal);
        for (int i = 0; i < x.Length; i++)
            if (x[i] != y[i] && !(mrc && i >= 224 && i < 1024)) return false;
        return true;
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SlurmCollection
{
    public const string Name = "slurm";
}

/// <summary>The single-node SLURM of tools/slurm-test-cluster.sh, started once per test run.</summary>
internal static class SlurmCluster
{
    private static readonly Lazy<(bool Up, string Why)> Started = new(StartOnce);

    public static bool Start(out string why)
    {
        (bool up, why) = Started.Value;
        return up;
    }

    private static (bool, string) StartOnce()
    {
        string? script = FindScript();
        if (script is null) return (false, "SLURM tests skipped: tools/slurm-test-cluster.sh not found above " + AppContext.BaseDirectory);
        var (code, stdout, stderr) = Run("bash", script);
        return code == 0 ? (true, stdout) : (false, $"SLURM tests skipped: SLURM could not be started here: {stderr.Trim()} {stdout.Trim()}".Trim());
    }

    private static string? FindScript()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string s = Path.Combine(d.FullName, "tools", "slurm-test-cluster.sh");
            if (File.Exists(s)) return s;
        }
        return null;
    }

    public static (int Code, string Out, string Err) Run(string command, params string[] args)
    {
        var psi = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(180)))
            {
                p.Kill(entireProcessTree: true);
                return (124, o.Result, "timed out");
            }
            return (p.ExitCode, o.Result, e.Result);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (127, "", $"{command}: {ex.Message}");
        }
    }
}

/// <summary>
/// `serve --executor slurm`: the watched folder's series go to SLURM; the service and a SLURM task killed at the same
/// moment, then the service started again: it re-attaches to what SLURM still holds, resubmits the lost task (which
/// resumes from its last finished stage) and every series ends done or failed exactly once, with its outputs.
/// </summary>
[Trait("Category", "Slurm")]
[Collection(SlurmCollection.Name)]
public sealed class SlurmServeTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task ServeOnSlurmKilledWithATaskReattachesAndEndsEverySeriesOnce()
    {
        var clock = Stopwatch.StartNew();
        Skip.IfNot(SlurmCluster.Start(out string why), why);
        using var folders = new Tomalign.Tests.Serve.ServeFolders();
        string settings = Path.Combine(folders.Root, "settings.json");
        File.WriteAllText(settings, """
            { "beadDiameter": 6, "thickness": 40, "device": "cpu",
              "slurm": { "cpus": 1, "memory": "1G", "time": "00:10:00", "pollSeconds": 0.5 } }
            """);
        var sim = CliRunner.Run("simulate", "--out", folders.Staging, "--name", "alpha", "--size", "128", "--tilt-step", "10", "--bead-radius", "3",
            "--beads", "10", "--seed", "2", "--quiet");
        Assert.True(sim.ExitCode == ExitCodes.Ok, sim.ToString());
        File.Move(Path.Combine(folders.Staging, "alpha.rawtlt"), Path.Combine(folders.Watch, "alpha.rawtlt"));
        File.Move(Path.Combine(folders.Staging, "alpha.mrc"), Path.Combine(folders.Watch, "alpha.mrc"));
        folders.DropCorrupt("bad");

        string alpha = Path.Combine(folders.Out, "alpha");
        string? task = null;
        using (var first = Tomalign.Tests.Serve.ServeProcess.Start(folders, settings, output, "--executor", "slurm"))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            while (DateTime.UtcNow < deadline)
            {
                string ledger = Path.Combine(alpha, "alpha.stages.json");
                if (File.Exists(ledger) && !File.Exists(Path.Combine(alpha, "alpha.run.json")) &&
                    File.ReadAllText(ledger).Contains("\"coarse\"", StringComparison.Ordinal))
                {
                    task = File.ReadLines(Path.Combine(alpha, "alpha.slurm.log")).First().Split(' ')[3].TrimEnd(',');
                    break;
                }
                await Task.Delay(50);
            }
            Assert.True(task is not null, "alpha never showed a finished coarse stage before its end");
            // The service and the task, at the same moment.
            first.Kill();
            Assert.Equal(0, SlurmCluster.Run("scancel", task!).Code);
            output.WriteLine($"killed serve and scancelled {task} after alpha's coarse stage ({clock.Elapsed.TotalSeconds:F1} s)");
        }

        using var second = Tomalign.Tests.Serve.ServeProcess.Start(folders, settings, output, "--executor", "slurm");
        var jobs = await second.Client.WaitForAsync(j => j.Count == 2 && j.All(x => x.State is "done" or "failed" or "unreliable" or "cancelled"),
            TimeSpan.FromSeconds(120), "both series to end", pollMs: 250);
        var byName = jobs.ToDictionary(j => j.Name);
        Assert.Equal("done", byName["alpha"].State);
        Assert.Equal(2, byName["alpha"].Attempts);   // the cancelled task, then one resubmission
        Assert.Equal("failed", byName["bad"].State);
        Assert.Equal(1, byName["bad"].Attempts);
        Assert.Contains("bad.mrc", byName["bad"].Error);
        // The resubmitted task resumed from alpha's last finished stage, and its outputs are complete.
        var resume = JsonNode.Parse(File.ReadAllText(Path.Combine(alpha, "alpha.run.json")))!["resume"]!;
        Assert.Contains("coarse", resume["reused"]!.AsArray().Select(n => n!.GetValue<string>()));
        foreach (string suffix in new[] { ".xf", ".tlt", ".ali", ".rec" }) Assert.True(File.Exists(Path.Combine(alpha, "alpha" + suffix)), "alpha" + suffix);
        // Exactly once: the queue holds each series once, and the log shows one finished run of alpha (the second task's).
        Assert.Equal(1, File.ReadAllLines(Path.Combine(alpha, "alpha.slurm.log")).Count(l => l.StartsWith("--- exit 0", StringComparison.Ordinal)));
        output.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");
    }
}
