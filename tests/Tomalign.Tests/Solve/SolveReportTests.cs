using System.Text.Json;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Solve;

public class SolveReportTests
{
    private static (SolveResult, SimulatedLandmarks) Solve()
    {
        var sim = SimulatedLandmarks.Create(21, landmarks: 12, views: 21, sigma: 0.3, displacedFraction: 0.03);
        return (new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), new SolveOptions { Robust = true }), sim);
    }

    [Fact]
    public void ResidFileHasTiltalignsLayoutAndReadsBack()
    {
        var (r, _) = Solve();
        var lines = SolveReport.ResidLines(r).ToList();
        Assert.Equal($"{r.ObservationCount,6} residuals", lines[0]);
        Assert.Equal(r.ObservationCount + 1, lines.Count);
        Assert.All(lines.Skip(1), l => Assert.Equal(41, l.Length));
        // Parsed back as tiltalign's format (a new landmark where the view does not increase).
        string dir = Directory.CreateTempSubdirectory("tomalign-resid-").FullName;
        try
        {
            File.WriteAllLines(Path.Combine(dir, "t.resid"), lines);
            File.Copy(Path.Combine(BBData.Dir(), "BBa.tlt"), Path.Combine(dir, "t.tlt"));
            File.Copy(Path.Combine(BBData.Dir(), "BBa.tltxf"), Path.Combine(dir, "t.tltxf"));
            var back = BBData.LoadFrom(dir, "t");
            Assert.Equal(r.ObservationCount, back.Observations.Count);
            var expected = r.Points.OrderBy(p => p.Landmark).ThenBy(p => p.View).ToList();
            for (int k = 0; k < expected.Count; k++)
            {
                Assert.Equal(expected[k].View, back.Observations[k].View);
                Assert.Equal(expected[k].X, back.Observations[k].X, 0.0051);
                Assert.Equal(expected[k].Magnitude, back.ImodResidual[k], 0.01);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FidXyzHasTiltalignsLayout()
    {
        var (r, _) = Solve();
        var lines = SolveReport.FidXyzLines(r, 1024, 1024, 20.2).ToList();
        Assert.Equal(r.Landmarks.Length, lines.Count);
        Assert.EndsWith(" Pix:    20.20000 Dim:  1024  1024", lines[0]);
        var t = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, t.Length);
        Assert.Equal(r.Landmarks[1].X + 512, double.Parse(t[1], System.Globalization.CultureInfo.InvariantCulture), 0.0051);
        Assert.Equal(r.Landmarks[1].Z, double.Parse(t[3], System.Globalization.CultureInfo.InvariantCulture), 0.0051);
    }

    [Fact]
    public void JsonAndTableCarryTheResiduals()
    {
        var (r, _) = Solve();
        using var doc = JsonDocument.Parse(SolveReport.Json(r, new SolveOptions { Robust = true }));
        var root = doc.RootElement;
        Assert.Equal(r.Overall.Rms, root.GetProperty("residual").GetProperty("rms").GetDouble(), 12);
        Assert.Equal(21, root.GetProperty("views").GetArrayLength());
        Assert.Equal(r.ObservationCount, root.GetProperty("points").GetArrayLength());
        Assert.Equal("grouped by 5", root.GetProperty("options").GetProperty("tilt").GetString());
        var table = SolveReport.TextTable(r).ToList();
        Assert.Contains(table, l => l.StartsWith("Residual (px) over all points"));
        Assert.Equal(r.FlaggedPointCount, table.Count(l => l.StartsWith("  landmark")));
        Assert.True(r.FlaggedPointCount > 0);
    }
}
