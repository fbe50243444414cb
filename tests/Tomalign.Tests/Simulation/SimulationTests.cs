using System.Text.Json;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Simulation;

public sealed class SimulationTests(ITestOutputHelper output)
{
    private static SimulationOptions Small(int seed = 7) => new()
    {
        Nx = 128, Ny = 128, TiltMin = -9, TiltMax = 9, TiltStep = 3,
        ThicknessPixels = 40, BeadCount = 6, BeadRadiusPixels = 3, Seed = seed,
    };

    /// <summary>256² × 9 views, ±60°, beads only (no texture), so the bead fits see a flat background.</summary>
    private static SimulationOptions BeadsOnly(double dose) => new()
    {
        Nx = 256, Ny = 256, TiltMin = -60, TiltMax = 60, TiltStep = 15,
        ThicknessPixels = 60, BeadCount = 12, BeadRadiusPixels = 4, BlobCount = 0,
        DoseElectronsPerPixel = dose, Seed = 11,
    };

    [Fact]
    public void Simulation_SameSeedGivesIdenticalStack_OtherSeedDiffers()
    {
        var sim = new TiltSeriesSimulator();
        var a = sim.Simulate(Small(7));
        var b = sim.Simulate(Small(7));
        var c = sim.Simulate(Small(8));
        Assert.Equal(7, a.Raw.Nz);
        Assert.True(a.Raw.Data.AsSpan().SequenceEqual(b.Raw.Data));
        Assert.Equal(a.ToJson(), b.ToJson());
        Assert.False(a.Raw.Data.AsSpan().SequenceEqual(c.Raw.Data));
        Assert.NotEqual(a.Beads, c.Beads);
        Assert.All(a.Raw.Data, v => Assert.True(float.IsFinite(v) && v >= 0));
    }

    [Fact]
    public void Simulation_TruthIsConsistent()
    {
        var s = new TiltSeriesSimulator().Simulate(new SimulationOptions { Nx = 128, Ny = 128, ThicknessPixels = 40, BeadCount = 6, BeadRadiusPixels = 3, BlobCount = 10 });
        Assert.Equal(41, s.Raw.Nz);
        Assert.Equal(41, s.NominalTilts.Length);
        Assert.Equal(-60, s.NominalTilts[0], 12);
        Assert.Equal(60, s.NominalTilts[^1], 12);
        int r = s.ReferenceView;
        Assert.Equal(20, r);
        Assert.Equal(1.0, s.TrueGeometry[r].Magnification);
        Assert.Equal(0.0, s.TrueGeometry[r].ShiftX);
        Assert.Equal(0.0, s.TrueGeometry[r].ShiftY);
        Assert.Equal(s.NominalTilts[r], s.TrueTilts[r]);
        Assert.Contains(s.TrueTilts, t => Math.Abs(t - Math.Round(t)) > 1e-6);
        for (int i = 0; i < s.Raw.Nz; i++)
        {
            Assert.Equal(s.TrueTilts[i], s.TrueGeometry[i].TiltDegrees);
            var raw = s.TrueBeadProjections(i, aligned: false);
            var ali = s.TrueBeadProjections(i, aligned: true);
            for (int j = 0; j < raw.Count; j++)
            {
                var (x, y) = s.AligningTransforms[i].Apply(raw[j].X, raw[j].Y, 64, 64);
                Assert.Equal(ali[j].X, x, 9);
                Assert.Equal(ali[j].Y, y, 9);
            }
        }
        foreach (var b in s.Beads) Assert.True(Math.Abs(b.Z) <= 20 + 1e-9);
        foreach (var b in s.Blobs) Assert.True(Math.Abs(b.Z) <= 20 + 1e-9);
        using var doc = JsonDocument.Parse(s.ToJson());
        Assert.Equal(41, doc.RootElement.GetProperty("Views").GetArrayLength());
        Assert.Equal(6, doc.RootElement.GetProperty("Beads").GetArrayLength());
        Assert.Equal(128, doc.RootElement.GetProperty("Options").GetProperty("Nx").GetInt32());
    }

    [Fact]
    public void Simulation_BeadFitInRawFrame_MatchesTruth_NoiseFree()
    {
        var s = new TiltSeriesSimulator().Simulate(BeadsOnly(dose: 0));
        var (rms, n) = FitErrors(s, RawViews(s), aligned: false);
        output.WriteLine($"raw frame, noise-free: RMS {rms:F4} px over {n} fits");
        Assert.True(n >= 60, $"only {n} beads could be fitted");
        Assert.True(rms < 0.1, $"RMS {rms:F4} px");
    }

    [Fact]
    public void Simulation_BeadFitInRawFrame_MatchesTruth_WithNoise()
    {
        var s = new TiltSeriesSimulator().Simulate(BeadsOnly(dose: 20));
        var (rms, n) = FitErrors(s, RawViews(s), aligned: false);
        output.WriteLine($"raw frame, dose 20 e/px: RMS {rms:F4} px over {n} fits");
        Assert.True(n >= 60, $"only {n} beads could be fitted");
        Assert.True(rms < NoisyFitToleranceRms, $"RMS {rms:F4} px");
    }

    /// <summary>Measured 0.29 px RMS (x and y together) at 20 e/px with radius-4 beads (plain centroid in a
    /// radius-6.5 disc, as the shot-noise estimate predicts); the bound leaves room for other seeds.</summary>
    private const double NoisyFitToleranceRms = 0.4;

    [Fact]
    public void Simulation_BeadFitInAlignedFrame_MatchesTruth_NoiseFree()
    {
        var s = new TiltSeriesSimulator().Simulate(BeadsOnly(dose: 0));
        var views = new ReadOnlyMemory<float>[s.Raw.Nz];
        for (int i = 0; i < s.Raw.Nz; i++) views[i] = WarpBilinear(s.Raw, i, s.AligningTransforms[i]);
        var (rms, n) = FitErrors(s, views, aligned: true);
        output.WriteLine($"aligned frame (bilinear warp), noise-free: RMS {rms:F4} px over {n} fits");
        Assert.True(n >= 60, $"only {n} beads could be fitted");
        Assert.True(rms < 0.1, $"RMS {rms:F4} px");
    }

    [Fact]
    public void Simulation_SphereAndGaussianProjectionsIntegrateToTheirMass()
    {
        const double rho = 0.3, radius = 5, amp = 0.01, sigma = 3;
        foreach (var g in new[]
                 {
                     new ViewGeometry(0, 0, 1, 0, 0),
                     new ViewGeometry(30, 85, 1, 0.3, -0.2),
                     new ViewGeometry(-55, 85.4, 1.02, -3.7, 2.1),
                 })
        {
            var proj = new double[96 * 96];
            TiltSeriesSimulator.RenderProjection(96, 96, g, [new Bead(1.3, -2.2, 10, radius, rho)], [], proj);
            double expected = rho * 4.0 / 3.0 * Math.PI * radius * radius * radius * g.Magnification * g.Magnification;
            double sum = proj.Sum();
            output.WriteLine($"sphere, tilt {g.TiltDegrees}: {sum:F4} vs {expected:F4} ({(sum / expected - 1) * 100:F3}%)");
            Assert.InRange(sum / expected, 0.99, 1.01);
            Assert.Equal(2 * rho * radius, proj.Max(), 0.1); // the chord through the centre, to within a pixel of the rim

            Array.Clear(proj);
            TiltSeriesSimulator.RenderProjection(96, 96, g, [], [new Blob(-4.1, 3.3, -7, sigma, amp)], proj);
            expected = amp * Math.Pow(2 * Math.PI, 1.5) * sigma * sigma * sigma * g.Magnification * g.Magnification;
            sum = proj.Sum();
            output.WriteLine($"gaussian, tilt {g.TiltDegrees}: {sum:F6} vs {expected:F6} ({(sum / expected - 1) * 100:F4}%)");
            Assert.InRange(sum / expected, 0.999, 1.001);
        }
    }

    [Fact]
    public void Simulation_SingleBeadSeries_IntensityIsExpOfProjection()
    {
        var o = new SimulationOptions
        {
            Nx = 96, Ny = 96, TiltMin = -60, TiltMax = 60, TiltStep = 30, ThicknessPixels = 30, BeadCount = 1,
            BlobCount = 0, SlabDensity = 0, DoseElectronsPerPixel = 0,
        };
        var s = new TiltSeriesSimulator().Simulate(o);
        for (int i = 0; i < s.Raw.Nz; i++)
        {
            double sum = 0;
            foreach (float v in s.Raw.ReadView(i)) sum += -Math.Log(v);
            double m = s.TrueGeometry[i].Magnification;
            double expected = o.BeadDensity * 4.0 / 3.0 * Math.PI * Math.Pow(o.BeadRadiusPixels * m, 3) / m;
            Assert.InRange(sum / expected, 0.99, 1.01);
        }
    }

    [Fact]
    public void Simulation_ShotNoiseHasPoissonStatistics()
    {
        foreach (double dose in new[] { 4.0, 20.0, 100.0 })
        {
            var s = new TiltSeriesSimulator().Simulate(new SimulationOptions
            {
                Nx = 128, Ny = 128, TiltMin = 0, TiltMax = 0, BeadCount = 0, BlobCount = 0, SlabDensity = 0,
                DoseElectronsPerPixel = dose,
            });
            double mean = s.Raw.Data.Average(v => (double)v);
            double variance = s.Raw.Data.Average(v => (v - mean) * (v - mean));
            output.WriteLine($"dose {dose}: mean {mean:F4}, variance×dose {variance * dose:F4}");
            Assert.InRange(mean, 1 - 4 / Math.Sqrt(dose * 16384), 1 + 4 / Math.Sqrt(dose * 16384));
            Assert.InRange(variance * dose, 0.95, 1.05);
        }
    }

    public static TheoryData<string, SimulationOptions> BadOptions => new()
    {
        { "Nx", new SimulationOptions { Nx = -5 } },
        { "Ny", new SimulationOptions { Ny = 0 } },
        { "TiltMin", new SimulationOptions { TiltMin = 30, TiltMax = -30 } },
        { "TiltMin", new SimulationOptions { TiltMin = double.NaN } },
        { "TiltStep", new SimulationOptions { TiltStep = 0 } },
        { "TiltMax", new SimulationOptions { TiltMax = 90 } },
        { "TiltMax", new SimulationOptions { TiltMax = 59 } },
        { "ThicknessPixels", new SimulationOptions { ThicknessPixels = -1 } },
        { "BeadCount", new SimulationOptions { BeadCount = -1 } },
        { "BeadRadiusPixels", new SimulationOptions { BeadRadiusPixels = -2 } },
        { "BeadRadiusPixels", new SimulationOptions { BeadRadiusPixels = 100 } },
        { "BlobCount", new SimulationOptions { BlobCount = -2 } },
        { "BlobSigmaMax", new SimulationOptions { BlobSigmaMin = 5, BlobSigmaMax = 3 } },
        { "DoseElectronsPerPixel", new SimulationOptions { DoseElectronsPerPixel = -1 } },
        { "ShiftWalkSigmaPixels", new SimulationOptions { ShiftWalkSigmaPixels = double.PositiveInfinity } },
        { "MagnificationJitter", new SimulationOptions { MagnificationJitter = -0.1 } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Simulation_OptionsValidationRejectsNonsense(string parameter, SimulationOptions o)
    {
        var e = Assert.Throws<ArgumentException>(o.Validate);
        Assert.Equal(parameter, e.ParamName);
        Assert.Contains(parameter, e.Message);
        Assert.Throws<ArgumentException>(() => new TiltSeriesSimulator().Simulate(o));
    }

    [Fact]
    public void Simulation_DefaultOptionsAreValid()
    {
        var o = new SimulationOptions();
        o.Validate();
        Assert.Equal(41, o.ViewCount);
    }

    private static ReadOnlyMemory<float>[] RawViews(SimulatedSeries s) =>
        Enumerable.Range(0, s.Raw.Nz).Select(i => (ReadOnlyMemory<float>)s.Raw.Data.AsMemory(i * s.Raw.ViewLength, s.Raw.ViewLength)).ToArray();

    /// <summary>Fits every bead that is fully inside the image and clear of other beads; returns the RMS error (both axes together) and the count.</summary>
    private static (double Rms, int Count) FitErrors(SimulatedSeries s, ReadOnlyMemory<float>[] views, bool aligned)
    {
        int nx = s.Raw.Nx, ny = s.Raw.Ny;
        double sumSq = 0; int n = 0;
        for (int i = 0; i < views.Length; i++)
        {
            var truth = s.TrueBeadProjections(i, aligned);
            double m = aligned ? 1 : s.TrueGeometry[i].Magnification;
            for (int j = 0; j < truth.Count; j++)
            {
                double radius = s.Beads[j].Radius * m;
                double clear = BeadCentreFit.OuterRadius(radius) + radius + 1.5;
                bool crowded = false;
                for (int k = 0; k < truth.Count && !crowded; k++)
                    crowded = k != j && Math.Abs(truth[k].X - truth[j].X) < clear && Math.Abs(truth[k].Y - truth[j].Y) < clear
                              && Math.Sqrt(Math.Pow(truth[k].X - truth[j].X, 2) + Math.Pow(truth[k].Y - truth[j].Y, 2)) < clear;
                if (crowded) continue;
                double outer = BeadCentreFit.OuterRadius(radius) + 2;
                if (truth[j].X < outer || truth[j].Y < outer || truth[j].X > nx - 1 - outer || truth[j].Y > ny - 1 - outer) continue;
                var fit = BeadCentreFit.Fit(views[i].Span, nx, ny, truth[j].X, truth[j].Y, radius);
                Assert.NotNull(fit);
                sumSq += Math.Pow(fit.Value.X - truth[j].X, 2) + Math.Pow(fit.Value.Y - truth[j].Y, 2);
                n++;
            }
        }
        return (Math.Sqrt(sumSq / Math.Max(1, n)), n);
    }

    /// <summary>Aligned view: each aligned pixel samples the raw view bilinearly at xf⁻¹(pixel), about (NX/2, NY/2); outside = mean.</summary>
    private static float[] WarpBilinear(ImageStack raw, int view, Xf rawToAligned)
    {
        int nx = raw.Nx, ny = raw.Ny;
        var src = raw.ReadView(view);
        double fill = 0;
        foreach (float v in src) fill += v;
        fill /= src.Length;
        var inv = rawToAligned.Inverse();
        var dst = new float[nx * ny];
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
            {
                var (sx, sy) = inv.Apply(x, y, nx / 2.0, ny / 2.0);
                int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                if (x0 < 0 || y0 < 0 || x0 + 1 > nx - 1 || y0 + 1 > ny - 1) { dst[y * nx + x] = (float)fill; continue; }
                double fx = sx - x0, fy = sy - y0;
                double v = (1 - fy) * ((1 - fx) * src[y0 * nx + x0] + fx * src[y0 * nx + x0 + 1])
                           + fy * ((1 - fx) * src[(y0 + 1) * nx + x0] + fx * src[(y0 + 1) * nx + x0 + 1]);
                dst[y * nx + x] = (float)v;
            }
        return dst;
    }
}
