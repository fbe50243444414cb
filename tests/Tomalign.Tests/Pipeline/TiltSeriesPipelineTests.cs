using System.Globalization;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reporting;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Pipeline;

/// <summary>A small simulated series (256², 21 views, gold beads) written once for the pipeline tests.</summary>
public sealed class PipelineSeriesFixture : IDisposable
{
    public PipelineSeriesFixture()
    {
        Options = SimulationOptions.ForSize(256) with { TiltStep = 6, Seed = 4 };
        Series = new TiltSeriesSimulator().Simulate(Options);
        Files = SimulationFiles.Write(Series, Dir.Path, "sim", 2.0);
    }

    internal TempDir Dir { get; } = new();
    public SimulationOptions Options { get; }
    public SimulatedSeries Series { get; }
    public SimulationFileSet Files { get; }
    public string Diameter => (2 * Options.BeadRadiusPixels).ToString(CultureInfo.InvariantCulture);

    /// <summary>The bead run of the resume tests: aligned stack and tomogram at bin 2.</summary>
    public PipelineSpec BeadRun(string outDir) => new()
    {
        Stack = Files.Stack, Angles = Files.RawTilt, Out = outDir, Name = "sim", TiltAxis = Options.TiltAxisDegrees,
        BeadDiameter = 2 * Options.BeadRadiusPixels, Thickness = 24, Bin = 2, Device = "cpu",
    };

    private string? _base;

    /// <summary>A folder holding a completed bead run (made once), to copy and resume.</summary>
    public string BaseRun()
    {
        lock (this)
        {
            if (_base is not null) return _base;
            string dir = Path.Combine(Dir.Path, "base");
            new TiltSeriesPipeline(new CpuBackend()).RunAndReport(BeadRun(dir), new PipelineContext());
            return _base = dir;
        }
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// The pipeline as a library: a whole bead run and a whole markerless run through <see cref="TiltSeriesPipeline"/> alone
/// give the files the command line gives; --resume redoes exactly the stage an option affects and those after it.
/// </summary>
public sealed class TiltSeriesPipelineTests(PipelineSeriesFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<PipelineSeriesFixture>
{
    private static readonly string[] AllStages = ["coarse", "landmarks", "solve", "refine", "apply", "reconstruct"];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheLibraryGivesTheFilesOfTheCommandLine(bool markerless)
    {
        using var dir = new TempDir();
        var spec = fixture.BeadRun(dir.File("lib")) with
        {
            Markerless = markerless, BeadDiameter = markerless ? null : 2 * fixture.Options.BeadRadiusPixels,
        };
        var result = new TiltSeriesPipeline(new CpuBackend()).RunAndReport(spec, new PipelineContext { ReportWriters = [new HtmlRunReport()] });
        Assert.All(result.Stages, s => Assert.Equal(StageStatus.Run, s.Status));
        Assert.Equal(AllStages, result.Stages.Select(s => s.Name));

        string[] landmarks = markerless ? ["--markerless"] : ["--bead-diameter", fixture.Diameter];
        var r = CliRunner.Run(["run", fixture.Files.Stack, "--angles", fixture.Files.RawTilt, "--tilt-axis", "85", .. landmarks,
            "--thickness", "24", "--bin", "2", "--name", "sim", "--device", "cpu", "--out", dir.File("cli"), "--quiet"]);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());

        // The same files, and the same alignment and tomogram to the bit.
        string[] Names(string d) => Directory.GetFiles(d).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(Names(dir.File("cli")), Names(dir.File("lib")));
        foreach (string f in new[] { "sim.prexg", "sim.xf", "sim.tlt", "sim.tltxf", "sim.fid", "sim.resid", "sim.aln" })
            Assert.True(File.ReadAllBytes(Path.Combine(dir.File("cli"), f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir.File("lib"), f))),
                $"{f} differs between the library run and the command line");
        // The MRC outputs' headers carry the time they were written: their pixels are compared.
        foreach (string f in new[] { "sim.ali", "sim.rec" })
        {
            using var a = MrcReader.Open(Path.Combine(dir.File("cli"), f));
            using var b = MrcReader.Open(Path.Combine(dir.File("lib"), f));
            Assert.Equal((a.Nx, a.Ny, a.Nz), (b.Nx, b.Ny, b.Nz));
            Assert.True(a.ReadAll().Data.AsSpan().SequenceEqual(b.ReadAll().Data), $"{f}: the pixels differ between the library run and the command line");
        }
        // ... and an alignment that is right (the truth is known), so the comparison is not between two wrong answers.
        double error = AlignmentCheck.FieldErrorAfterGauge(fixture.Series, ImodText.ReadXf(result.Align.Xf));
        output.WriteLine($"{(markerless ? "markerless" : "beads")}: alignment error {error:F3} px over the field, residual mean {result.Align.Solve.Overall.Mean:F3} px");
        // Measured 0.50 px (beads) and 1.36 px (markerless; residual means 0.26 and 0.60 px).
        Assert.True(error < (markerless ? 2.5 : 1.0), $"alignment error {error:F3} px over the field");
        Assert.Equal(result.Align.Solve.Overall.Mean, ReportResult(dir.File("cli"), "residualMean"), 9);
    }

    [Fact]
    public void ResumeWithNothingChangedReusesEveryStageAndAnotherStackNone()
    {
        using var dir = new TempDir();
        string outDir = CopyBase(dir, "same");
        var before = Stamps(outDir);
        var result = Resume(fixture.BeadRun(outDir));
        AssertStatuses(result, reused: AllStages);
        Assert.Equal(before, Stamps(outDir));   // nothing rewritten but the reports and the record
        Assert.Equal(fixture.BaseRun() is { } b ? File.ReadAllText(Path.Combine(b, "sim.xf")) : "", File.ReadAllText(Path.Combine(outDir, "sim.xf")));
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "sim.run.json"))))
        {
            var resume = doc.RootElement.GetProperty("resume");
            Assert.Equal(AllStages, resume.GetProperty("reused").EnumerateArray().Select(e => e.GetString()));
            Assert.Empty(resume.GetProperty("redone").EnumerateArray());
            // The reused stages gave their results back to the report.
            Assert.True(doc.RootElement.GetProperty("results").GetProperty("residualMean").GetDouble() > 0);
            Assert.True(doc.RootElement.GetProperty("results").TryGetProperty("beadsSeeded", out _));
        }

        // Another stack of the same name in the same folder (issue 15: its .prexg and .fid were taken): everything is redone.
        var other = new TiltSeriesSimulator().Simulate(fixture.Options with { Seed = 9 });
        var otherFiles = SimulationFiles.Write(other, dir.File("other"), "sim", 2.0);
        result = Resume(fixture.BeadRun(outDir) with { Stack = otherFiles.Stack, Angles = otherFiles.RawTilt });
        AssertStatuses(result, redone: AllStages);
        Assert.Contains("stack file is not the one", result.Stages[0].Reason);
    }

    [Fact]
    public void ResumeAfterAChangedBinRedoesTheAlignedStackAndTheTomogramOnly()
    {
        using var dir = new TempDir();
        string outDir = CopyBase(dir, "bin");
        var result = Resume(fixture.BeadRun(outDir) with { Bin = 1 });
        AssertStatuses(result, reused: ["coarse", "landmarks", "solve", "refine"], redone: ["apply", "reconstruct"]);
        Assert.Contains("bin changed (2 → 1)", result.Stages.Single(s => s.Name == "apply").Reason);
        using var ali = MrcReader.Open(Path.Combine(outDir, "sim.ali"));
        Assert.Equal(256, ali.Nx);   // not the bin-2 stack of the first run
        using var rec = MrcReader.Open(Path.Combine(outDir, "sim.rec"));
        Assert.Equal(256, rec.Nx);
    }

    [Fact]
    public void ResumeAfterChangedSolveVariablesRedoesTheSolveAndTheStagesAfterIt()
    {
        using var dir = new TempDir();
        string outDir = CopyBase(dir, "solve");
        string xfBefore = File.ReadAllText(Path.Combine(outDir, "sim.xf"));
        var aliBefore = File.GetLastWriteTimeUtc(Path.Combine(outDir, "sim.ali"));
        var result = Resume(fixture.BeadRun(outDir) with { Rotation = "grouped:3" });
        AssertStatuses(result, reused: ["coarse", "landmarks"], redone: ["solve", "refine", "apply", "reconstruct"]);
        Assert.Contains("rotation changed", result.Stages.Single(s => s.Name == "solve").Reason);
        Assert.Equal("grouped by 3", result.Align.Solve.Options!.Rotation.ToString());
        Assert.NotEqual(xfBefore, File.ReadAllText(Path.Combine(outDir, "sim.xf")));
        Assert.NotEqual(aliBefore, File.GetLastWriteTimeUtc(Path.Combine(outDir, "sim.ali")));   // issue 15: the old .ali was kept
    }

    [Fact]
    public void ResumeAfterAChangedBeadDiameterRedoesTheLandmarksAndTheStagesAfterThem()
    {
        using var dir = new TempDir();
        string outDir = CopyBase(dir, "diameter");
        var prexgBefore = File.GetLastWriteTimeUtc(Path.Combine(outDir, "sim.prexg"));
        var result = Resume(fixture.BeadRun(outDir) with { BeadDiameter = 2 * fixture.Options.BeadRadiusPixels + 1 });
        AssertStatuses(result, reused: ["coarse"], redone: ["landmarks", "solve", "refine", "apply", "reconstruct"]);
        double d = 2 * fixture.Options.BeadRadiusPixels;
        Assert.Contains($"beadDiameter changed ({System.Text.Json.Nodes.JsonValue.Create(d).ToJsonString()} → {System.Text.Json.Nodes.JsonValue.Create(d + 1).ToJsonString()})",
            result.Stages.Single(s => s.Name == "landmarks").Reason);
        Assert.Equal(prexgBefore, File.GetLastWriteTimeUtc(Path.Combine(outDir, "sim.prexg")));
        Assert.Contains("beads (2nd pass)", result.Report.Stages.Select(s => s.Name));   // tracked again, so the second pass ran
    }

    [Fact]
    public void ResumeAfterSwitchingToMarkerlessRedoesTheLandmarksAndAMissingOutputIsRedone()
    {
        using var dir = new TempDir();
        string outDir = CopyBase(dir, "markerless");
        var result = Resume(fixture.BeadRun(outDir) with { Markerless = true, BeadDiameter = null });
        AssertStatuses(result, reused: ["coarse"], redone: ["landmarks", "solve", "refine", "apply", "reconstruct"]);
        Assert.Contains("markerless", result.Stages.Single(s => s.Name == "landmarks").Reason);
        Assert.NotNull(result.Align.Patches);

        // An output of a stage removed by hand: that stage and the ones after it are redone.
        File.Delete(Path.Combine(outDir, "sim.solve.json"));
        result = Resume(fixture.BeadRun(outDir) with { Markerless = true, BeadDiameter = null });
        AssertStatuses(result, reused: ["coarse", "landmarks"], redone: ["solve", "refine", "apply", "reconstruct"]);
        Assert.Equal("sim.solve.json is missing", result.Stages.Single(s => s.Name == "solve").Reason);
    }

    [Fact]
    public void TheSpecificationReadsBackFromItsJsonAndChecksEveryField()
    {
        var spec = fixture.BeadRun("/tmp/out") with { Rotation = "grouped:3", Level = true, TwoSurfaces = true, Beads = 30, TiltAxis = null, Method = "sirt", XStretch = "grouped:7:1.5", Skew = "linear:11" };
        Assert.Equal(spec, PipelineSpec.FromJson(spec.ToJson()));
        Assert.True(PipelineSpec.FromJson((spec with { LightBeads = true }).ToJson()).LightBeads);
        Assert.Contains("--light-beads", (spec with { LightBeads = true }).ToArguments());
        Assert.Null(PipelineSpec.FromJson((spec with { Thickness = null }).ToJson()).Thickness);   // align only
        foreach (var (json, problem) in new[]
        {
            ("""{ "stack": "a.mrc", "angles": "a.rawtlt", "out": "o", "beadDiameter": 10, "beadz": 3 }""", "unknown field 'beadz'"),
            ("""{ "stack": "a.mrc", "angles": "a.rawtlt", "out": "o", "beadDiameter": 10, "rotation": "sideways" }""", "rotation 'sideways' is not a variable mode"),
            ("""{ "stack": "a.mrc", "angles": "a.rawtlt", "out": "o", "beadDiameter": 10, "skew": "bent" }""", "skew 'bent' is not a variable mode"),
            ("""{ "stack": "a.mrc", "angles": "a.rawtlt", "out": "o", "beadDiameter": -1 }""", "bead-diameter -1 is not a size"),
            ("""{ "stack": "a.mrc", "angles": "a.rawtlt", "out": "o", "markerless": true, "thickness": 10, "bin": 0 }""", "bin 0 is not a binning factor"),
            ("""{ "angles": "a.rawtlt", "out": "o", "markerless": true }""", "no stack"),
            ("""{ "stack": "a.mrc", "angles": "a.rawtlt", "out": "o", "markerless": true, "beads": "many" }""", "field 'beads' has the wrong type"),
        })
        {
            var e = Assert.Throws<TomalignInputException>(() => PipelineSpec.FromJson(json, "job.json"));
            Assert.Contains(problem, e.Message);
            Assert.Contains("job.json", e.Message);
        }
    }

    private string CopyBase(TempDir dir, string name)
    {
        string target = dir.File(name);
        Directory.CreateDirectory(target);
        foreach (string f in Directory.GetFiles(fixture.BaseRun())) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return target;
    }

    private static PipelineResult Resume(PipelineSpec spec) =>
        new TiltSeriesPipeline(new CpuBackend()).RunAndReport(spec with { Resume = true }, new PipelineContext());

    private static void AssertStatuses(PipelineResult result, string[]? reused = null, string[]? redone = null)
    {
        string Describe() => string.Join("; ", result.Stages.Select(s => $"{s.Name} {s.Status} {s.Reason}"));
        Assert.True((reused ?? []).SequenceEqual(result.Stages.Where(s => s.Status == StageStatus.Reused).Select(s => s.Name)), Describe());
        Assert.True((redone ?? []).SequenceEqual(result.Stages.Where(s => s.Status == StageStatus.Redone).Select(s => s.Name)), Describe());
        // A reused stage did not run: its timed step is absent from the report.
        var timed = result.Report.Stages.Select(s => s.Name).ToHashSet();
        foreach (string s in reused ?? []) Assert.DoesNotContain(s, timed);
        foreach (string s in (redone ?? []).Where(s => s is "coarse" or "landmarks" or "solve" or "apply" or "reconstruct")) Assert.Contains(s, timed);
    }

    private static Dictionary<string, DateTime> Stamps(string dir) => Directory.GetFiles(dir)
        .Where(f => !f.EndsWith(".json", StringComparison.Ordinal) && !f.EndsWith(".html", StringComparison.Ordinal))
        .ToDictionary(f => Path.GetFileName(f), File.GetLastWriteTimeUtc);

    private static double ReportResult(string dir, string key)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "sim.run.json")));
        return doc.RootElement.GetProperty("results").GetProperty(key).GetDouble();
    }
}
