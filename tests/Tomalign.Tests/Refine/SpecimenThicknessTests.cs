using Tomalign.Core.Refine;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Refine;

public sealed class SpecimenThicknessTests(ITestOutputHelper output)
{
    /// <summary>
    /// Simulated slabs of known thickness, aligned by the truth: the estimate is within 35 % of the slab, also with gold
    /// beads on both surfaces (without the clipping, the beads of one surface made a 90 px slab at 384² read as 9 px).
    /// </summary>
    [Theory]
    [InlineData(40, 0)]
    [InlineData(120, 0)]
    [InlineData(120, 20)]
    public void EstimatesTheSlabOfASimulatedSeries(double slab, int beads)
    {
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(512) with { Seed = 3, BeadCount = beads, ThicknessPixels = slab });
        using var cpu = new CpuBackend();
        var e = SpecimenThickness.Estimate(cpu, series.Raw, series.AligningTransforms, series.TrueTilts);
        output.WriteLine($"slab {slab} px, {beads} beads: estimate {e.ThicknessPixels:F1} px, centre {e.CentrePixels:F1} px (bin {e.Bin})");
        Assert.InRange(e.ThicknessPixels, 0.65 * slab, 1.35 * slab);
        Assert.InRange(e.CentrePixels, -0.2 * slab, 0.2 * slab);
    }
}
