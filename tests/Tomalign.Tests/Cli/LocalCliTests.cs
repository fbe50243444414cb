using System.Globalization;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Tests.Solve;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Cli;

/// <summary>`solve --local`, `reconstruct --local-xf` and `run --local`.</summary>
public sealed class LocalCliTests(ITestOutputHelper output)
{
    /// <summary>IMOD's BB beads: solve --local writes BBalocal.xf (tiltalign's layout) and the areas in the JSON report; reconstruct reads it back.</summary>
    [Fact]
    public void SolveLocalWritesImodsLocalFileAndReportsTheAreas()
    {
        using var dir = new TempDir();
        var bb = BBData.Load("BBa");
        File.WriteAllLines(dir.File("BBa.txt"), bb.Observations.Select(o => string.Create(CultureInfo.InvariantCulture, $"1 {o.Landmark + 1} {o.X:R} {o.Y:R} {o.View}")));
        File.WriteAllLines(dir.File("BBa.rawtlt"), Enumerable.Range(0, 61).Select(i => (65.0 - 2 * i).ToString(CultureInfo.InvariantCulture)));
        var r = CliRunner.Run("solve", "--model", dir.File("BBa.txt"), "--angles", dir.File("BBa.rawtlt"), "--size", "512,512", "--tilt-axis", "-12.5",
            "--reference-view", "30", "--robust", "--tilt", "linear:5", "--mag", "linear:4", "--distortion", "--local", "--local-size", "256,256",
            "--pixel-size", "20.2", "--device", "cpu", "--out", dir.File("out"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        output.WriteLine(r.Out);
        string path = Path.Combine(dir.File("out"), "BBalocal.xf");
        var header = File.ReadLines(path).First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(9, header.Length);
        Assert.Equal("20.20000", header[7]);
        Assert.Equal("1", header[8]);   // z factors: the global solve has distortion
        var file = LocalAlignmentFile.Read(path, 61);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "BBa.solve.json")));
        var local = doc.RootElement.GetProperty("results").GetProperty("local");
        Assert.Equal(file.Areas, local.GetProperty("areas").GetArrayLength());
        double mean = local.GetProperty("residualLocalMean").GetDouble(), global = doc.RootElement.GetProperty("residual").GetProperty("mean").GetDouble();
        output.WriteLine($"local mean {mean:F4} px, global {global:F4} px");
        Assert.True(mean < global, $"local {mean} vs global {global}");
        // --local-min takes TOTAL,SURFACE: one number is an input error.
        var bad = CliRunner.Run("solve", "--model", dir.File("BBa.txt"), "--angles", dir.File("BBa.rawtlt"), "--size", "512,512", "--tilt-axis", "-12.5",
            "--local", "--local-min", "8", "--device", "cpu", "--out", dir.File("out2"));
        Assert.Equal(ExitCodes.InputError, bad.ExitCode);
    }

    /// <summary>A simulated series with a known local warp, run with --local: the local file, the areas in the report and a tomogram.</summary>
    [Fact]
    public void RunLocalAlignsAndReconstructsThroughTheAreas()
    {
        using var dir = new TempDir();
        var o = SimulationOptions.ForSize(256) with { Seed = 7, BeadCount = 28, LocalWarpPixels = 2, TiltMin = -60, TiltMax = 60, TiltStep = 3 };
        var s = new TiltSeriesSimulator().Simulate(o);
        SimulationFiles.Write(s, dir.Path, "w", 2.0);
        var r = CliRunner.Run("run", dir.File("w.mrc"), "--angles", dir.File("w.rawtlt"), "--tilt-axis", o.TiltAxisDegrees.ToString(CultureInfo.InvariantCulture),
            "--bead-diameter", (2 * o.BeadRadiusPixels).ToString(CultureInfo.InvariantCulture), "--thickness", "40", "--local", "--device", "cpu", "--out", dir.File("out"));
        output.WriteLine(r.ToString());
        Assert.True(r.ExitCode is ExitCodes.Ok or ExitCodes.Unreliable, r.ToString());
        string outDir = dir.File("out");
        var file = LocalAlignmentFile.Read(Path.Combine(outDir, "wlocal.xf"), s.ViewCount);
        Assert.True(file.Areas >= 4);
        using var rec = MrcReader.Open(Path.Combine(outDir, "w.rec"));
        Assert.Equal((256, 256, 40), (rec.Nx, rec.Ny, rec.Nz));
        Assert.Contains("\"residualLocalMean\"", File.ReadAllText(Path.Combine(outDir, "w.run.json")), StringComparison.Ordinal);
        // NAME.tilt.com hands the local file to IMOD's tilt.
        Assert.Contains("LOCALFILE wlocal.xf", File.ReadAllText(Path.Combine(outDir, "w.tilt.com")), StringComparison.Ordinal);
        // The residual map of the areas in the HTML report: one cell per area.
        string html = File.ReadAllText(Path.Combine(outDir, "w.run.html"));
        Assert.Contains("id=\"local-map\"", html, StringComparison.Ordinal);
        Assert.Equal(file.Areas, html.Split("<td style=\"background:rgb(255,").Length - 1);
        Assert.Equal("2.00000", File.ReadLines(Path.Combine(outDir, "wlocal.xf")).First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[7]);
    }
}
