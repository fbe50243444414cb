using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Xunit;

namespace Tomalign.Tests.Simulation;

/// <summary>The styles of the simulation zoo and the features they add: spoiled views, carbon edge, inverted contrast, acquisition order, and the truth file read back.</summary>
public sealed class SimulationZooTests
{
    private static double Mean(float[] data, int nx, int ny, int view, int x0 = 0, int x1 = -1, int y0 = 0, int y1 = -1)
    {
        if (x1 < 0) x1 = nx; if (y1 < 0) y1 = ny;
        double s = 0; long n = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) { s += data[((long)view * ny + y) * nx + x]; n++; }
        return s / n;
    }

    [Fact]
    public void EveryStyleSimulatesAndDiffersFromTheDefault()
    {
        var sim = new TiltSeriesSimulator();
        var baseline = SimulationZoo.Options("default", 128, 5);
        foreach (var style in SimulationZoo.Styles)
        {
            var o = style.Apply(SimulationOptions.ForSize(128) with { Seed = 5, TiltStep = 15 });
            if (style.Name != "default") Assert.NotEqual(baseline, SimulationZoo.Options(style.Name, 128, 5));
            var s = sim.Simulate(o);
            Assert.Equal(9, s.ViewCount);
            Assert.All(s.Raw.Data, v => Assert.True(float.IsFinite(v)));
        }
        Assert.Throws<ArgumentException>(() => SimulationZoo.Get("no-such-style"));
    }

    [Fact]
    public void DoseSymmetricOrder_IsAPermutationInPairsFromZero()
    {
        var nominal = Enumerable.Range(0, 11).Select(i => -15.0 + 3 * i).ToArray(); // −15 … 15, reference 5
        var order = TiltSeriesSimulator.AcquisitionOrder(nominal, 5);
        Assert.Equal(new[] { 5, 6, 7, 4, 3, 8, 9, 2, 1, 10, 0 }, order);
        Assert.Equal(Enumerable.Range(0, 11), order.OrderBy(i => i));
    }

    [Fact]
    public void AcquisitionOrder_PermutesViewsAndTruthTogether()
    {
        var o = new SimulationOptions { Nx = 96, Ny = 96, TiltMin = -12, TiltMax = 12, TiltStep = 3, ThicknessPixels = 30, BeadCount = 4, BeadRadiusPixels = 3, Seed = 4 };
        var sim = new TiltSeriesSimulator();
        var sorted = sim.Simulate(o);
        var acquired = sim.Simulate(o with { Order = ViewOrder.DoseSymmetric });
        var order = TiltSeriesSimulator.AcquisitionOrder(sorted.NominalTilts, sorted.ReferenceView);
        Assert.Equal(0, acquired.ReferenceView);
        for (int k = 0; k < order.Length; k++)
        {
            Assert.Equal(sorted.NominalTilts[order[k]], acquired.NominalTilts[k]);
            Assert.Equal(sorted.TrueGeometry[order[k]], acquired.TrueGeometry[k]);
            Assert.True(sorted.Raw.Data.AsSpan(order[k] * 96 * 96, 96 * 96).SequenceEqual(acquired.Raw.Data.AsSpan(k * 96 * 96, 96 * 96)));
        }
        Assert.Contains(acquired.NominalTilts.Zip(acquired.NominalTilts.Skip(1)), p => p.Second < p.First); // not monotonic
    }

    [Fact]
    public void BadViews_AreDarkOrStructureless()
    {
        var o = new SimulationOptions
        {
            Nx = 128, Ny = 128, TiltMin = -12, TiltMax = 12, TiltStep = 3, ThicknessPixels = 40, BeadCount = 8, BeadRadiusPixels = 4,
            DoseElectronsPerPixel = 0, Seed = 9, BadViews = [new BadView(2, BadViewKind.Dark), new BadView(6, BadViewKind.Noise), new BadView(7, BadViewKind.Overexposed)],
        };
        var s = new TiltSeriesSimulator().Simulate(o);
        var d = s.Raw.Data;
        double good = Mean(d, 128, 128, 3);
        Assert.InRange(Mean(d, 128, 128, 2) / good, 0.005, 0.02);
        Assert.InRange(Mean(d, 128, 128, 7) / Mean(d, 128, 128, 8), 8, 12);
        // Without shot noise a noise view of the bare slab is flat: no beads, no texture.
        var noise = d.AsSpan(6 * 128 * 128, 128 * 128).ToArray();
        Assert.True(noise.Max() - noise.Min() < 1e-6, $"noise view spans {noise.Min()}…{noise.Max()}");
        var normal = d.AsSpan(5 * 128 * 128, 128 * 128).ToArray();
        Assert.True(normal.Max() - normal.Min() > 0.1);
        Assert.Throws<ArgumentException>(() => (o with { BadViews = [new BadView(99, BadViewKind.Dark)] }).Validate());
    }

    [Fact]
    public void CarbonEdge_ProjectsTheFilmAnalytically()
    {
        // Edge along y (normal +x) at x = 0: the film fills x > 0. At zero tilt the film side is darker by exactly
        // exp(−ρ·T); at a tilt θ the edge becomes a ramp of width T·tan θ, and far from it the factor is exp(−ρ·T/cos θ).
        const double rho = 0.004, t = 50;
        var o = new SimulationOptions
        {
            Nx = 128, Ny = 128, TiltMin = 0, TiltMax = 45, TiltStep = 45, ThicknessPixels = t, BeadCount = 0, BlobCount = 0,
            SlabDensity = 0, DoseElectronsPerPixel = 0, RotationJitterDegrees = 0, MagnificationJitter = 0, TiltErrorDegrees = 0,
            ShiftWalkSigmaPixels = 0, TiltAxisDegrees = 0, CarbonDensity = rho, CarbonEdgeAngleDegrees = 0, CarbonEdgeOffset = 0,
        };
        var s = new TiltSeriesSimulator().Simulate(o);
        var d = s.Raw.Data;
        Assert.Equal(1.0, Mean(d, 128, 128, 0, 0, 50), 6);
        Assert.Equal(Math.Exp(-rho * t), Mean(d, 128, 128, 0, 78, 128), 6);
        double c45 = Math.Cos(Math.PI / 4);
        Assert.Equal(Math.Exp(-rho * t / c45), Mean(d, 128, 128, 1, 100, 128), 6);
        Assert.Equal(1.0, Mean(d, 128, 128, 1, 0, 30), 6);
        // Inside the ramp (|u| < T/2·tan θ = 25 px about the edge) the film is partly crossed.
        double ramp = Mean(d, 128, 128, 1, 64, 65);
        Assert.InRange(ramp, Math.Exp(-rho * t / c45) + 1e-3, 1 - 1e-3);
    }

    [Fact]
    public void InvertContrast_MakesBeadsBright()
    {
        var o = new SimulationOptions { Nx = 128, Ny = 128, TiltMin = 0, TiltMax = 0, TiltStep = 3, ThicknessPixels = 40, BeadCount = 6, BeadRadiusPixels = 4, DoseElectronsPerPixel = 0, Seed = 2 };
        var normal = new TiltSeriesSimulator().Simulate(o);
        var light = new TiltSeriesSimulator().Simulate(o with { InvertContrast = true });
        var (bx, by) = normal.TrueBeadProjections(0, aligned: false)[0];
        int i = (int)Math.Round(by) * 128 + (int)Math.Round(bx);
        Assert.True(normal.Raw.Data[i] < normal.Raw.Data.Average());
        Assert.True(light.Raw.Data[i] > light.Raw.Data.Average());
        Assert.Equal(2.0, normal.Raw.Data[i] + light.Raw.Data[i], 5);
    }

    [Fact]
    public void TruthFile_ReadsBackAndMeasuresTiltsHonestly()
    {
        var o = SimulationZoo.Options("jitter", 128, 3) with { TiltMin = -60, TiltMax = 60, TiltStep = 6 };
        var s = new TiltSeriesSimulator().Simulate(o);
        string path = Path.Combine(Path.GetTempPath(), $"truth-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, s.ToJson());
        try
        {
            var t = SimulatedSeries.LoadTruth(path);
            Assert.Equal(s.TrueTilts, t.TrueTilts);
            Assert.Equal(s.TrueGeometry, t.TrueGeometry);
            Assert.Equal(s.ReferenceView, t.ReferenceView);
            Assert.Equal(s.Beads, t.Beads);
            Assert.Throws<InvalidOperationException>(() => t.Raw);
            Assert.Equal(0, AlignmentCheck.FieldErrorAfterGauge(t, s.AligningTransforms), 9);
            Assert.Equal(0, AlignmentCheck.FieldErrorWithTilts(t, s.AligningTransforms, s.TrueTilts), 6);

            // A common tilt offset blurs nothing; one view's tilt 3° off does, by about |x|·sin(3°)/√views.
            var offset = s.TrueTilts.Select(x => x + 2).ToArray();
            double blurOffset = AlignmentCheck.FieldErrorWithTilts(t, s.AligningTransforms, offset);
            Assert.True(blurOffset < 0.05, $"a common offset costs {blurOffset:F3} px");
            var (rms0, _, off0) = AlignmentCheck.TiltError(t, offset);
            Assert.Equal(0, rms0, 9); Assert.Equal(2, off0, 9);
            var oneBad = (double[])s.TrueTilts.Clone(); oneBad[3] += 3;
            // Field points reach |x| = 0.4·128 px; 3° there moves a point by ~2.7 px in that view, ~0.5 px RMS over 21 views.
            double blurOne = AlignmentCheck.FieldErrorWithTilts(t, s.AligningTransforms, oneBad);
            Assert.True(blurOne > 0.2, $"one view 3° off costs only {blurOne:F3} px");
            Assert.True(AlignmentCheck.TiltError(t, oneBad).Rms > 0.5);
            // The nominal tilts are off by the simulated tilt error (0.5° SD).
            Assert.InRange(AlignmentCheck.TiltError(t, s.NominalTilts).Rms, 0.2, 1.0);
        }
        finally { File.Delete(path); }
    }
}
