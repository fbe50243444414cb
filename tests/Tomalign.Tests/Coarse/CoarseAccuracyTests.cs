using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Coarse;

/// <summary>
/// Coarse alignment against the simulator's truth (issue 3): 512×512×41, tilt axis 85°, random-walk
/// shifts of 5 px per step, beads on two surfaces, 20 e/px. The .prexg shifts must match the true
/// raw → reference shifts within 1.0 px RMS once a constant offset and a·sin θ (per axis, fitted by
/// least squares) are removed.
/// </summary>
public class CoarseAccuracyTests
{
    private readonly ITestOutputHelper _output;
    public CoarseAccuracyTests(ITestOutputHelper output) => _output = output;

    /// <param name="skip">views left out of the measure (views the alignment was told to skip).</param>
    internal static double ResidualRms(SimulatedSeries sim, IReadOnlyList<Xf> prexg, out double rawRms, IReadOnlyCollection<int>? skip = null)
    {
        var views = Enumerable.Range(0, sim.Raw.Nz).Where(i => skip is null || !skip.Contains(i)).ToArray();
        int n = views.Length;
        var toReference = sim.AligningTransforms[sim.ReferenceView].Inverse();
        var rx = new double[n]; var ry = new double[n]; var s = new double[n];
        for (int k = 0; k < n; k++)
        {
            int i = views[k];
            var truth = Xf.Product(sim.AligningTransforms[i], toReference);
            rx[k] = prexg[i].Dx - truth.Dx;
            ry[k] = prexg[i].Dy - truth.Dy;
            s[k] = Math.Sin(sim.NominalTilts[i] * Math.PI / 180);
        }
        rawRms = Math.Sqrt(rx.Zip(ry, (a, b) => a * a + b * b).Average());
        double[] Remove(double[] r)
        {
            double ms = s.Average(), mr = r.Average();
            double sxy = 0, sxx = 0;
            for (int i = 0; i < r.Length; i++) { sxy += (s[i] - ms) * (r[i] - mr); sxx += (s[i] - ms) * (s[i] - ms); }
            double a = sxy / sxx, c = mr - a * ms;
            return r.Select((v, i) => v - c - a * s[i]).ToArray();
        }
        var fx = Remove(rx); var fy = Remove(ry);
        return Math.Sqrt(fx.Zip(fy, (a, b) => a * a + b * b).Average());
    }

    [Fact]
    public void SimulatedSeriesWithinOnePixelRms()
    {
        var sim = new TiltSeriesSimulator().Simulate(new SimulationOptions
        {
            Nx = 512, Ny = 512, TiltMin = -60, TiltMax = 60, TiltStep = 3, TiltAxisDegrees = 85,
            ShiftWalkSigmaPixels = 5, TwoSurfaces = true, DoseElectronsPerPixel = 20, Seed = 1,
        });
        Assert.Equal(41, sim.Raw.Nz);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(sim.Raw, sim.NominalTilts, new CoarseAlignOptions { TiltAxisDegrees = 85 });
        Assert.Equal(sim.ReferenceView, result.ReferenceView);
        CoarseAlignerTests.AssertPrexgChainsPrexf(result);
        double rms = ResidualRms(sim, result.Prexg, out double raw);
        _output.WriteLine($"coarse: {raw:F2} px RMS raw, {rms:F3} px RMS after removing offset and a·sin θ");
        Assert.True(rms < 1.0, $"coarse alignment {rms:F3} px RMS after the fit (limit 1.0 px)");
    }

    /// <summary>
    /// A small series (192², 41 views, the simulator's size-scaled defaults): before the search
    /// required the 2-D window overlap, weak corner peaks won several pairs here (191 px RMS).
    /// </summary>
    [Fact]
    public void SmallSeriesWithinOnePixelRms()
    {
        var sim = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(192), null);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(sim.Raw, sim.NominalTilts, new CoarseAlignOptions { TiltAxisDegrees = 85 });
        double rms = ResidualRms(sim, result.Prexg, out double raw);
        _output.WriteLine($"coarse 192²: {raw:F2} px RMS raw, {rms:F3} px RMS after removing offset and a·sin θ");
        Assert.True(rms < 1.0, $"coarse alignment {rms:F3} px RMS after the fit (limit 1.0 px)");
    }

    [Fact]
    public void VeryLowDoseViewWarnsAndGetsIdentity()
    {
        var sim = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(128) with
        {
            TiltMin = -30, TiltMax = 30, TiltStep = 6, TiltAxisDegrees = 85,
            ShiftWalkSigmaPixels = 2, DoseElectronsPerPixel = 20, Seed = 2,
        });
        // View 9 recorded with 0.01 e/px: almost every pixel is 0 counts (values are counts / dose).
        var rng = new Random(3);
        var view = sim.Raw.View(9);
        for (int i = 0; i < view.Length; i++) view[i] = rng.NextDouble() < 0.01 * view[i] ? 100f : 0f;
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(sim.Raw, sim.NominalTilts, new CoarseAlignOptions { TiltAxisDegrees = 85 });
        Assert.Contains(9, result.BlankViews);
        Assert.Contains(result.Warnings, w => w.Contains("view 9"));
        Assert.Equal(Xf.Identity, result.Prexf[9]);
        Assert.All(result.Prexg, g => Assert.True(double.IsFinite(g.Dx) && double.IsFinite(g.Dy)));
    }
}
