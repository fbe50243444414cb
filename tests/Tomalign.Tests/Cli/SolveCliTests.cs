using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Tests.Solve;
using Xunit;

namespace Tomalign.Tests.Cli;

/// <summary>`tomalign solve` from a landmark model file to IMOD's outputs, on simulated landmarks with known geometry.</summary>
public sealed class SolveCliTests
{
    private static (SimulatedLandmarks Sim, string Model, string Angles) Inputs(TempDir dir, int seed = 3)
    {
        var sim = SimulatedLandmarks.Create(seed, landmarks: 30, views: 41);
        string model = dir.File("beads.fid"), angles = dir.File("beads.rawtlt");
        ImodModel.FromObservations(sim.Observations, sim.Width, sim.Height, sim.NominalTilts.Length).Write(model);
        ImodText.WriteAngles(angles, sim.NominalTilts);
        return (sim, model, angles);
    }

    [Fact]
    public void WholeTrackWeightsAndLevellingAreSolveOptions()
    {
        using var dir = new TempDir();
        var (sim, model, angles) = Inputs(dir);
        string outDir = dir.File("out");
        var r = CliRunner.Run("solve", "--model", model, "--angles", angles, "--size", $"{sim.Width},{sim.Height}", "--tilt-axis", "8",
            "--robust", "--weight-whole-tracks", "--level", "--device", "cpu", "--out", outDir, "-q");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "beads.solve.json")));
        var options = doc.RootElement.GetProperty("options");
        Assert.True(options.GetProperty("WeightWholeTracks").GetBoolean());
        Assert.True(options.GetProperty("Level").GetBoolean());
        Assert.True(doc.RootElement.TryGetProperty("specimenLevel", out _));
    }

    [Fact]
    public void SolveWritesImodFilesThatRecoverTheGeometry()
    {
        using var dir = new TempDir();
        var (sim, model, angles) = Inputs(dir);
        var prexg = Enumerable.Range(0, 41).Select(i => Xf.RotationScale(0, 1, i * 0.5, -i * 0.25)).ToArray();
        ImodText.WriteXf(dir.File("beads.prexg"), prexg);
        string outDir = dir.File("out");
        var r = CliRunner.Run("solve", "--model", model, "--angles", angles, "--size", $"{sim.Width},{sim.Height}",
            "--prexg", dir.File("beads.prexg"), "--tilt-axis", "8", "--tilt", "per-view", "--mag", "per-view", "--robust", "--device", "cpu", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("residual mean", r.Out);
        foreach (var ext in new[] { ".tltxf", ".xf", ".tlt", ".xtilt", ".resid", "fid.xyz", ".solve.txt", ".solve.json" })
            Assert.True(File.Exists(Path.Combine(outDir, "beads" + ext)), $"beads{ext} missing\n{r}");
        // The command's report is NAME.COMMAND.json, as for every command: the solve's record and the command's report in one file.
        Assert.False(File.Exists(Path.Combine(outDir, "beads.run.json")), "solve wrote a `run` report");

        // The solved tilt angles are the true ones (the line: ≤ 0.1° RMS at σ = 0.3 px).
        var tlt = ImodText.ReadAngles(Path.Combine(outDir, "beads.tlt"));
        Assert.Equal(41, tlt.Length);
        double tiltRms = Math.Sqrt(tlt.Select((t, i) => (t - sim.Truth[i].TiltDegrees) * (t - sim.Truth[i].TiltDegrees)).Average());
        Assert.True(tiltRms <= 0.1, $"tilt error RMS {tiltRms:F3}°");

        // ROOT.xf = .prexg then .tltxf (IMOD xfproduct).
        var tltxf = ImodText.ReadXf(Path.Combine(outDir, "beads.tltxf"));
        var xf = ImodText.ReadXf(Path.Combine(outDir, "beads.xf"));
        for (int i = 0; i < 41; i++)
        {
            var expect = Xf.Product(prexg[i], tltxf[i]);
            Assert.True(Math.Abs(expect.Dx - xf[i].Dx) < 0.01 && Math.Abs(expect.Dy - xf[i].Dy) < 0.01 && Math.Abs(expect.A11 - xf[i].A11) < 1e-5,
                $"view {i}: .xf {ImodText.FormatXf(xf[i])} ≠ prexg·tltxf {ImodText.FormatXf(expect)}");
        }

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "beads.solve.json")));
        Assert.Equal("solve", doc.RootElement.GetProperty("command").GetString());
        Assert.Contains(doc.RootElement.GetProperty("stages").EnumerateArray(), s => s.GetProperty("name").GetString() == "solve");
        Assert.Equal(41, doc.RootElement.GetProperty("views").GetArrayLength());
        double rms = doc.RootElement.GetProperty("results").GetProperty("residualRms").GetDouble();
        Assert.Equal(rms, doc.RootElement.GetProperty("residual").GetProperty("rms").GetDouble(), 9);
        // σ = 0.3 px per axis: the residual vector's RMS length is 0.3·√2·√(1 − unknowns/(2·observations)) ≈ 0.39 here
        // (about 290 unknowns, 980 observations); it cannot exceed the noise (0.424) nor fall far below it.
        Assert.InRange(rms, 0.35, 0.43);
    }

    [Fact]
    public void AngleCountNotMatchingTheModelIsAnError()
    {
        using var dir = new TempDir();
        var (sim, model, _) = Inputs(dir);
        string angles = dir.File("short.rawtlt");
        ImodText.WriteAngles(angles, sim.NominalTilts.Take(20).ToArray());
        string outDir = dir.File("out");
        var r = CliRunner.Run("solve", "--model", model, "--angles", angles, "--size", "1024,1024", "--tilt-axis", "0", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("short.rawtlt", r.Err);
        Assert.Contains("Fix:", r.Err);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "outputs written on bad input");
    }

    [Fact]
    public void ATruncatedModelIsAnError()
    {
        using var dir = new TempDir();
        var (_, model, angles) = Inputs(dir);
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        var r = CliRunner.Run("solve", "--model", model, "--angles", angles, "--size", "1024,1024", "--tilt-axis", "0", "--out", dir.File("out"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("beads.fid", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }
}
