using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Tomalign.Tests.Formats;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Solve;

/// <summary>
/// Real gold-marker positions of PyTom's tutorial (tests/data/pytom-markers, README there): 5–8 beads over 58–59 tilts.
/// Solved with the default bead model against a plain rigid model with per-view rotation, and left out bead by bead.
/// </summary>
public class PytomMarkerSolveTests(ITestOutputHelper output)
{
    private const int Size = 3710; // PyTom's tutorial images (the README)

    private static (SolveInput Input, SolveResult Rigid, SolveResult Full, SolveOptions Options) Solve(string name)
    {
        var (obs, tilts) = PytomMarkers.Read(ImodTestData.Path_("pytom-markers", name + "_markerfile.txt"));
        // The beads move along x with tilt: the tilt axis is along y (0°).
        var input = new SolveInput(obs, Size, Size, tilts, 0);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var rigid = solver.Solve(input, new SolveOptions { Rotation = VariableOption.PerView, Tilt = VariableOption.Fixed, Magnification = VariableOption.Fixed });
        var options = new SolveOptions { Tilt = VariableOption.Auto, Magnification = VariableOption.Auto, Robust = true };
        return (input, rigid, solver.Solve(input, options), options);
    }

    [Theory]
    [InlineData("tomogram_000")]
    [InlineData("tomogram_001")]
    [InlineData("tomogram_002")]
    [InlineData("tomogram_003")]
    public void SolvesAtLeastAsWellAsARigidModelWithPerViewRotation(string name)
    {
        var (input, rigid, full, _) = Solve(name);
        output.WriteLine($"{name}: {input.Observations.Count} points of {full.Landmarks.Length} beads in {input.ViewCount} views; residual mean: rigid (per-view rotation) " +
                         $"{rigid.Overall.Mean:F3} px, default model {full.Overall.Mean:F3} px ({full.ViewVariables} view variables)");
        Assert.Equal(input.Observations.Count, full.ObservationCount);
        Assert.True(full.Overall.Mean <= rigid.Overall.Mean, $"the default model's residual {full.Overall.Mean:F3} px is above the rigid model's {rigid.Overall.Mean:F3}");
    }

    [Fact]
    public void LeaveOneOutResidualIsReportedPerBead()
    {
        var (input, _, full, options) = Solve("tomogram_001");
        var loo = LeaveOneOut.Compute(new BundleSolver(new CpuBundleNormalEquations()), input, options, full);
        foreach (var line in LeaveOneOut.TextTable(loo)) output.WriteLine(line);
        Assert.Equal(full.Landmarks.Length, loo.Count);
        foreach (var r in loo)
        {
            Assert.True(double.IsFinite(r.LeftOut), $"bead {r.Landmark}: no left-out residual");
            // Left out, a bead cannot fit better than when it took part (the solve minimised its residual too).
            Assert.True(r.LeftOut >= r.InSample, $"bead {r.Landmark}: left-out residual {r.LeftOut:F3} px below its in-sample {r.InSample:F3}");
            // The other beads' residual without it stays that of a good solve (no single bead carries the solution).
            Assert.True(r.OthersMean <= 1.5 * full.Overall.Mean, $"without bead {r.Landmark} the others' residual rose to {r.OthersMean:F3} px");
        }
    }
}
