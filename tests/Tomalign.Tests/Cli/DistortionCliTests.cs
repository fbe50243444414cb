using System.Globalization;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Solve;
using Tomalign.Tests.Formats;
using Tomalign.Tests.Solve;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Cli;

/// <summary>`tomalign solve --distortion` and `--leave-one-out` on real bead observations written as model2point text.</summary>
public sealed class DistortionCliTests(ITestOutputHelper output)
{
    private static void WriteModel(string path, IEnumerable<LandmarkObservation> obs) =>
        File.WriteAllLines(path, obs.Select(o => string.Create(CultureInfo.InvariantCulture, $"1 {o.Landmark + 1} {o.X:R} {o.Y:R} {o.View}")));

    [Fact]
    public void SolveWithDistortionWritesTiltalignsTransformsAndZFactors()
    {
        using var dir = new TempDir();
        var bb = BBData.Load("BBa");
        WriteModel(dir.File("BBa.txt"), bb.Observations);
        File.WriteAllLines(dir.File("BBa.rawtlt"), Enumerable.Range(0, 61).Select(i => (65.0 - 2 * i).ToString(CultureInfo.InvariantCulture)));
        var r = CliRunner.Run("solve", "--model", dir.File("BBa.txt"), "--angles", dir.File("BBa.rawtlt"), "--size", "512,512", "--tilt-axis", "-12.5",
            "--reference-view", "30", "--robust", "--distortion", "--device", "cpu", "--out", dir.File("out"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        output.WriteLine(r.Out);
        string o = dir.File("out");
        var xf = ImodText.ReadXf(Path.Combine(o, "BBa.tltxf"));
        Assert.Equal(61, xf.Length);
        // With distortion a .tltxf line is no similarity (tiltalign's T·M⁻¹); the reference view's is.
        Assert.Contains(xf, t => Math.Abs(t.A11 - t.A22) > 1e-5 || Math.Abs(t.A12 + t.A21) > 1e-5);
        var zfac = File.ReadAllLines(Path.Combine(o, "BBa.zfac"));
        Assert.Equal(61, zfac.Length);
        Assert.All(zfac[30].Split(' ', StringSplitOptions.RemoveEmptyEntries), z => Assert.True(Math.Abs(double.Parse(z, CultureInfo.InvariantCulture)) < 1e-6, zfac[30]));
        Assert.Contains(zfac, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(z => Math.Abs(double.Parse(z, CultureInfo.InvariantCulture)) > 1e-4));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(o, "BBa.solve.json")));
        var opts = doc.RootElement.GetProperty("options");
        Assert.Equal(SolveOptions.PresetXStretch.ToString(), opts.GetProperty("xStretch").GetString());
        Assert.Equal(SolveOptions.PresetSkew.ToString(), opts.GetProperty("skew").GetString());
        Assert.Contains(doc.RootElement.GetProperty("views").EnumerateArray(), v => v.GetProperty("xStretch").GetDouble() != 0);
        // The solve's record reads back with its distortion.
        var back = Tomalign.Core.Pipeline.SolveResultFile.Read(Path.Combine(o, "BBa.solve.json"));
        Assert.Equal(SolveOptions.PresetXStretch, back.Options!.XStretch);
        Assert.Contains(back.Views, v => v.XStretch != 0);
    }

    [Fact]
    public void SolveLeaveOneOutWritesAResidualPerBead()
    {
        using var dir = new TempDir();
        var (obs, tilts) = PytomMarkers.Read(ImodTestData.Path_("pytom-markers", "tomogram_001_markerfile.txt"));
        WriteModel(dir.File("t1.txt"), obs);
        File.WriteAllLines(dir.File("t1.rawtlt"), tilts.Select(t => t.ToString(CultureInfo.InvariantCulture)));
        var r = CliRunner.Run("solve", "--model", dir.File("t1.txt"), "--angles", dir.File("t1.rawtlt"), "--size", "3710,3710", "--tilt-axis", "0",
            "--tilt", "fixed", "--mag", "fixed", "--leave-one-out", "--device", "cpu", "--out", dir.File("out"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var table = File.ReadAllLines(Path.Combine(dir.File("out"), "t1.leaveout.txt"));
        foreach (var line in table) output.WriteLine(line);
        Assert.Equal(2 + 5, table.Length);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "t1.solve.json")));
        Assert.Equal(5, doc.RootElement.GetProperty("results").GetProperty("leaveOneOut").GetArrayLength());
    }
}
