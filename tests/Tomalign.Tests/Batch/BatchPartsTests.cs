using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Cli.Batch;
using Tomalign.Cli.Serve;
using Tomalign.Core;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Batch;

/// <summary>The parts of `batch` that need no SLURM: finding the series, reading the settings, writing the array's script.</summary>
public sealed class BatchPartsTests
{
    private static void Touch(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "x");
    }

    [Fact]
    public void InputsAreFoldersGlobsListsAndMdocsWithTheirAnglesFoundAsServeFindsThem()
    {
        using var dir = new TempDir();
        Touch(dir.File("a/s1.mrc")); Touch(dir.File("a/s1.rawtlt"));
        Touch(dir.File("a/s2.st")); Touch(dir.File("a/s2.tlt"));
        Touch(dir.File("a/orphan.mrc"));                               // no angles: skipped in a folder
        Touch(dir.File("b/t1.mrc")); Touch(dir.File("b/t1.mrc.mdoc"));  // SerialEM's angles
        Touch(dir.File("c/u1.mrc")); Touch(dir.File("c/u1.rawtlt"));
        Touch(dir.File("c/u2.mrc")); Touch(dir.File("c/u2.rawtlt"));
        File.WriteAllLines(dir.File("list.txt"), ["# one input a line", "c/u2.mrc", "", "b/t1.mrc.mdoc"]);

        var skipped = new List<string>();
        var series = BatchInputs.Expand([dir.File("a"), Path.Combine(dir.Path, "c", "u*.mrc"), dir.File("list.txt")], skipped);
        Assert.Equal(["s1.mrc", "s2.st", "u1.mrc", "u2.mrc", "t1.mrc"], series.Select(s => Path.GetFileName(s.Stack)));
        Assert.Equal(["s1.rawtlt", "s2.tlt", "u1.rawtlt", "u2.rawtlt", "t1.mrc.mdoc"], series.Select(s => Path.GetFileName(s.Angles)));
        Assert.Contains(skipped, s => s.Contains("orphan.mrc", StringComparison.Ordinal));

        // Named directly, a stack without angles is an error naming it; so is a glob that matches nothing.
        var e = Assert.Throws<TomalignInputException>(() => BatchInputs.Expand([dir.File("a/orphan.mrc")]));
        Assert.Contains("orphan.mrc", e.Message);
        Assert.Throws<TomalignInputException>(() => BatchInputs.Expand([Path.Combine(dir.Path, "a", "none*.mrc")]));
        Assert.Throws<TomalignInputException>(() => BatchInputs.Expand([dir.File("missing")]));
    }

    [Fact]
    public void SettingsCarryTheRunOptionsRetriesAndSlurmOptionsAndRejectTypos()
    {
        var s = BatchSettings.Parse("""
            { "thickness": 80, "beadDiameter": 10, "retries": 5,
              "slurm": { "partition": "gpu", "account": "lab", "gpus": 2, "gpuType": "a100", "cpus": 8, "memory": "32G", "throttle": 3, "time": "01:00:00" } }
            """, "s.json");
        Assert.Equal(80, s.Run.Thickness);
        Assert.Equal(10, s.Run.BeadDiameter);
        Assert.False(s.Run.Markerless);
        Assert.Equal(5, s.Retries);
        Assert.Equal(("gpu", "lab", 2, "a100", 8, "32G", 3), (s.Slurm.Partition, s.Slurm.Account, s.Slurm.Gpus, s.Slurm.GpuType, s.Slurm.Cpus, s.Slurm.Memory, s.Slurm.Throttle));

        var typo = Assert.Throws<TomalignInputException>(() => BatchSettings.Parse("""{ "slurm": { "partiton": "gpu" } }""", "s.json"));
        Assert.Contains("slurm.partiton", typo.Message);
        Assert.Contains("s.json", typo.Message);
        Assert.Throws<TomalignInputException>(() => BatchSettings.Parse("""{ "retries": -1 }""", "s.json"));
        Assert.Throws<TomalignInputException>(() => BatchSettings.Parse("""{ "thicknes": 80 }""", "s.json"));
        // Defaults: a GPU per task unless the device is the CPU.
        Assert.Equal(1, new SlurmOptions().GpusFor("auto"));
        Assert.Equal(0, new SlurmOptions().GpusFor("cpu"));
    }

    [Fact]
    public void TheArrayScriptAsksForTheSettingsResourcesAndRunsTheNamedTomalignWithQuotedArguments()
    {
        using var dir = new TempDir();
        var settings = BatchSettings.Parse("""
            { "thickness": 60, "slurm": { "partition": "gpu", "account": "lab", "gpus": 2, "gpuType": "a100", "cpus": 8, "memory": "32G", "throttle": 3,
              "extra": ["--constraint=h100"], "setup": ["module load cuda"] } }
            """, null);
        using var store = JobStore.Open(dir.File("q.db"));
        var exec = new SlurmExecutor(store, dir.Path, settings, NullLogger.Instance);
        string script = exec.Script(
            [("one", "/data/out/one", ["run", "/data/in/one.mrc", "--name", "one"]), ("two", "/data/out dir/two", ["run", "/data/in/it's two.mrc"])],
            ["/opt/tomalign/tomalign"], "/data/out/.tomalign-batch");
        string[] lines = script.Split('\n');
        foreach (string expected in new[]
                 {
                     "#SBATCH --array=0-1%3", "#SBATCH --requeue", "#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --gres=gpu:a100:2",
                     "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G", "#SBATCH --constraint=h100", "TOMALIGN=(/opt/tomalign/tomalign)", "module load cuda",
                 })
            Assert.Contains(expected, lines);
        Assert.Contains("DIR='/data/out dir/two'", script);
        Assert.Contains("'/data/in/it'\\''s two.mrc'", script);
        // Without "tomalign" in the settings, the tasks run this very build: its apphost, or dotnet with its dll.
        Assert.True(File.Exists(SlurmExecutor.ResolveTomalign(null)[^1]));

        // --gpus instead of --gres, and no GPU for the CPU device.
        var gpus = new SlurmExecutor(store, dir.Path, BatchSettings.Parse("""{ "slurm": { "gpuFlag": "gpus" } }""", null), NullLogger.Instance)
            .Script([("one", "/o", ["run"])], ["/t"], "/o");
        Assert.Contains("#SBATCH --gpus=1", gpus.Split('\n'));
        var cpu = new SlurmExecutor(store, dir.Path, BatchSettings.Parse("""{ "device": "cpu" }""", null), NullLogger.Instance)
            .Script([("one", "/o", ["run"])], ["/t"], "/o");
        Assert.DoesNotContain("gpu", cpu);
    }
}
