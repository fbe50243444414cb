using Tomalign.Core;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Solve;

public class SolveEdgeCaseTests
{
    private static BundleSolver Solver() => new(new CpuBundleNormalEquations());

    [Fact]
    public void GaugeIsAsReported()
    {
        var sim = SimulatedLandmarks.Create(4, landmarks: 20, views: 31);
        var r = Solver().Solve(sim.Input(), new SolveOptions { Magnification = VariableOption.PerView, Tilt = VariableOption.PerView, ReferenceView = 10 });
        Assert.Equal(10, r.ReferenceView);
        Assert.Equal(1.0, r.Views[10].Magnification, 12);
        Assert.Equal(sim.NominalTilts[10], r.Views[10].TiltDegrees, 9);
        Assert.Equal(0, r.Landmarks.Average(l => l.X), 6);
        Assert.Equal(0, r.Landmarks.Average(l => l.Y), 6);
        Assert.Equal(0, r.Landmarks.Average(l => l.Z), 6);
        Assert.Contains("reference view 10", r.Gauge);
    }

    [Fact]
    public void AViewWithoutObservationsKeepsItsStartAndIsNoted()
    {
        var sim = SimulatedLandmarks.Create(6, landmarks: 15, views: 21, sigma: 0.2);
        var obs = sim.Observations.Where(o => o.View != 3).ToList();
        var r = Solver().Solve(sim.Input() with { Observations = obs }, new SolveOptions { Tilt = VariableOption.PerView, Magnification = VariableOption.PerView });
        Assert.Contains(r.Notes, n => n.StartsWith("view 3 has no observations"));
        Assert.Equal(sim.NominalTilts[3], r.Views[3].TiltDegrees, 9);
        Assert.Equal(0, r.PerView[3].Count);
        Assert.InRange(r.RmsPerAxis, 0.15, 0.21); // σ = 0.2 px
    }

    [Fact]
    public void GlobalTiltOrMagnificationIsHeldFixedAsAGauge()
    {
        var sim = SimulatedLandmarks.Create(6, landmarks: 15, views: 21, sigma: 0.2, perturbTilts: false);
        var r = Solver().Solve(sim.Input(), new SolveOptions { Tilt = VariableOption.Global, Magnification = VariableOption.Global });
        Assert.Contains(r.Notes, n => n.Contains("global tilt change is a gauge freedom"));
        Assert.Contains(r.Notes, n => n.Contains("global magnification change is a gauge freedom"));
        Assert.All(r.Views, v => Assert.Equal(1.0, v.Magnification, 12));
    }

    [Fact]
    public void UserErrorsNameTheProblem()
    {
        var sim = SimulatedLandmarks.Create(6, landmarks: 5, views: 11);
        var bad = sim.Observations.Append(new LandmarkObservation(0, 11, 10, 10)).ToList();
        var e = Assert.Throws<TomalignInputException>(() => Solver().Solve(sim.Input() with { Observations = bad }, new SolveOptions()));
        Assert.Contains("view 11", e.Message);
        var nan = sim.Observations.Append(new LandmarkObservation(0, 2, double.NaN, 10)).ToList();
        Assert.Throws<TomalignInputException>(() => Solver().Solve(sim.Input() with { Observations = nan }, new SolveOptions()));
        var few = sim.Observations.Where(o => o.Landmark < 2).ToList();
        Assert.Throws<TomalignInputException>(() => Solver().Solve(sim.Input() with { Observations = few }, new SolveOptions()));
    }
}
