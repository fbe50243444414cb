using Tomalign.Core.Coarse;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Coarse;

public sealed class TiltAxisSearchTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(85.0, 4)]
    [InlineData(-12.5, 7)]
    public void FindsTheSimulatedAxis(double axis, int seed)
    {
        var s = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(384) with { Seed = seed, TiltAxisDegrees = axis });
        var r = TiltAxisSearch.Find(new CoarseAligner(new CpuPairCorrelator()), s.Raw, s.NominalTilts);
        double error = Math.Abs(TiltAxisSearch.Normalise(r.AngleDegrees - axis));
        output.WriteLine($"true {axis}°, found {r.AngleDegrees:F2}° ({r.Scores.Count} angles tried)");
        Assert.True(error < 2, $"found {r.AngleDegrees:F2}° for a true axis of {axis}°");
    }

    [Theory]
    [InlineData(95, -85)]
    [InlineData(-90, 90)]
    [InlineData(270, 90)]
    [InlineData(-12.5, -12.5)]
    public void AnglesAreReportedModulo180(double angle, double expected) => Assert.Equal(expected, TiltAxisSearch.Normalise(angle), 9);
}
