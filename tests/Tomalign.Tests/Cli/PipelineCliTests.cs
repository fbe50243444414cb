using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Simulation;
using Xunit;

namespace Tomalign.Tests.Cli;

/// <summary>
/// The commands end to end on simulated data: simulate writes a readable series and its truth,
/// apply with the true .xf puts every bead where the truth says (within 0.1 px), and verify,
/// bench and demo run and report.
/// </summary>
public sealed class PipelineCliTests
{
    /// <summary>Noise-free, texture-free views, so that the bead fit measures geometry only (it reads 0.013 px).</summary>
    [Fact]
    public void SimulateThenApplyPutsBeadsWhereTheTruthSays()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--name", "s", "--size", "192", "--tilt-step", "10", "--seed", "5", "--dose", "0", "--blobs", "0");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        foreach (var f in new[] { "s.mrc", "s.rawtlt", "s.truth.tlt", "s.truth.xf", "s.beads.txt", "s.truth.json", "s.simulate.json" })
            Assert.True(File.Exists(dir.File(f)), $"{f} missing\n{r}");
        using (var reader = MrcReader.Open(dir.File("s.mrc")))
        {
            Assert.Equal(192, reader.Nx);
            Assert.Equal(13, reader.Nz);
            Assert.Equal(13, ImodText.ReadAngles(dir.File("s.rawtlt")).Length);
            Assert.Equal(13, ImodText.ReadXf(dir.File("s.truth.xf")).Length);
            Assert.Equal(2.0, reader.Header.PixelSizeX, 3);
        }

        r = CliRunner.Run("apply", dir.File("s.mrc"), "--xf", dir.File("s.truth.xf"), "--out", dir.File("s.ali"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.True(File.Exists(dir.File("s.apply.json")), "apply wrote no report\n" + r);

        // The same series in memory (same seed and options) gives the truth to compare with.
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(192) with { TiltStep = 10, Seed = 5, DoseElectronsPerPixel = 0, BlobCount = 0 }, null);
        using var ali = MrcReader.Open(dir.File("s.ali"));
        var check = BeadCheck.Measure(ali.ReadAll(), series);
        Assert.True(check.Count >= 3 * series.Raw.Nz, $"only {check.Count} bead fits");
        Assert.True(check.RmsError < 0.1, $"RMS bead error {check.RmsError:F3} px ≥ 0.1 px ({check.Count} fits, max {check.MaxError:F3})");
        Assert.True(ImodText.ReadXf(dir.File("s.truth.xf")).Length == series.Raw.Nz);
    }

    [Fact]
    public void BeadCheckSeesAWrongTransform()
    {
        // The accuracy check can fail: the raw (unaligned) stack is far from the aligned truth.
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(192) with { TiltStep = 20, Seed = 9 }, null);
        var check = BeadCheck.Measure(series.Raw, series);
        Assert.True(!(check.RmsError < 0.5), $"raw stack measured as aligned: RMS {check.RmsError:F3} px over {check.Count} fits");
    }

    /// <summary>The README's first command: the whole pipeline on a simulated series, measured against its truth.</summary>
    [Fact]
    public void DemoAlignsAndReconstructs()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("demo", "--out", dir.Path, "--size", "192", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("alignment error against the truth", r.Out);
        foreach (var f in new[] { "sim.mrc", "sim.prexg", "sim.fid", "sim.xf", "sim.tlt", "sim.ali", "sim.rec", "sim.demo.json", "sim.demo.html" })
            Assert.True(File.Exists(dir.File(f)), $"{f} missing\n{r}");
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("sim.demo.json")));
        var results = doc.RootElement.GetProperty("results");
        double error = results.GetProperty("alignmentErrorPixels").GetDouble(), coarse = results.GetProperty("coarseOnlyErrorPixels").GetDouble();
        // Measured at 192²: 0.11 px (coarse alone 1.03 px); 0.06 px at the default 512².
        Assert.True(error < 0.3, $"alignment error {error:F3} px after the gauge");
        Assert.True(error < coarse, $"the fine alignment ({error:F3} px) is no better than the coarse one ({coarse:F3} px)");
        // The HTML page is self-contained: plots as inline SVG, slices as inline images, nothing fetched.
        string html = File.ReadAllText(dir.File("sim.demo.html"));
        Assert.True(System.Text.RegularExpressions.Regex.Matches(html, "<svg").Count >= 6, "fewer than six plots in the report");
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(html, "data:image/bmp;base64,").Count);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", ""));
        Assert.DoesNotContain("https://", html);
        using var rec = MrcReader.Open(dir.File("sim.rec"));
        Assert.Equal((192, 192), (rec.Nx, rec.Ny));
        Assert.Contains(doc.RootElement.GetProperty("stages").EnumerateArray(), s => s.GetProperty("name").GetString() == "reconstruct");
    }

    [Fact]
    public void VerifyOnTheEmulatorPasses()
    {
        var r = CliRunner.Run("verify", "--device", "ilgpu-cpu", "--size", "32", "--seed", "11");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("PASS", r.Out);
        Assert.DoesNotContain("FAIL", r.Out);
        Assert.Contains("fft (ilgpu-stockham)", r.Out);
        Assert.Contains("pair correlation", r.Out);
        // The checks that the plain cases miss: the x-axis tilt with the slab past the projection's edge rows, and the peaks' strengths.
        Assert.Contains("edge rows", r.Out);
        Assert.Contains("x-axis tilt", r.Out);
        Assert.Contains("peak strength", r.Out);
    }

    /// <summary>A smoke test: the bench command runs and writes its table and JSON; nothing in them is checked against a truth.</summary>
    [Fact]
    [Trait("Category", "Smoke")]
    public void BenchPrintsATableAndWritesJson()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("bench", "--device", "ilgpu-cpu", "--size", "64", "--views", "3", "--repeats", "1", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("warp linear", r.Out);
        Assert.Contains("fft r2c+c2r", r.Out);
        Assert.Contains("correlate pairs", r.Out);
        Assert.True(File.Exists(dir.File("tomalign.bench.json")));
    }

    /// <summary>A smoke test: the stages are timed and the run ends with a volume; its alignment bound (5 px) is loose on purpose.</summary>
    [Fact]
    [Trait("Category", "Smoke")]
    public void BenchRunTimesTheWholeRunStageByStage()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("bench", "--device", "cpu", "--size", "192", "--views", "21", "--repeats", "1", "--run", "--thickness", "24", "--bin", "2", "--out", dir.Path, "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("Whole run, markerless", r.Out);
        Assert.Contains("patch tracking", r.Out);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("tomalign.bench.json")));
        var run = doc.RootElement.GetProperty("results").GetProperty("run");
        Assert.Equal(24, run.GetProperty("thickness").GetInt32());
        Assert.Equal(2, run.GetProperty("bin").GetInt32());
        var cpuRun = Assert.Single(run.GetProperty("runs").EnumerateArray());
        Assert.Equal("cpu", cpuRun.GetProperty("device").GetString());
        var stages = cpuRun.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToArray();
        foreach (var stage in new[] { "read", "coarse", "landmarks", "solve", "apply", "reconstruct" }) Assert.Contains(stage, stages);
        double error = cpuRun.GetProperty("alignmentErrorPixels").GetDouble();
        Assert.True(double.IsFinite(error) && error < 5, $"alignment error {error}");
        Assert.True(File.Exists(Path.Combine(dir.Path, "bench-run", "cpu", "sim.rec")));
        using (var rec = MrcReader.Open(Path.Combine(dir.Path, "bench-run", "cpu", "sim.rec")))
            Assert.Equal((96, 96, 24), (rec.Nx, rec.Ny, rec.Nz));
    }

    [Fact]
    public void RelativeRmsDifferenceOfTwoVolumes()
    {
        using var dir = new TempDir();
        var a = new float[4 * 3 * 2];
        var b = new float[a.Length];
        for (int i = 0; i < a.Length; i++) { b[i] = i + 1; a[i] = b[i]; }
        a[5] += 2;   // ‖a − b‖ = 2
        MrcWriter.WriteStack(dir.File("a.mrc"), new Tomalign.Core.Imaging.ImageStack(4, 3, 2, a));
        MrcWriter.WriteStack(dir.File("b.mrc"), new Tomalign.Core.Imaging.ImageStack(4, 3, 2, b));
        double norm = Math.Sqrt(b.Sum(v => (double)v * v));
        Assert.Equal(2 / norm, Commands.RelativeRmsDifference(dir.File("a.mrc"), dir.File("b.mrc")), 6);
        Assert.Equal(0, Commands.RelativeRmsDifference(dir.File("b.mrc"), dir.File("b.mrc")));
    }
}
