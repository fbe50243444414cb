using Tomalign.Core.Geometry;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Solve;

/// <summary>Local alignments (tiltalign's scheme): the area grid, the incremental solve per area and IMOD's local file.</summary>
public class LocalAlignmentTests(ITestOutputHelper output)
{
    /// <summary>tiltalign's grid for a target size and overlap, worked by hand from its formulas.</summary>
    [Fact]
    public void GridFollowsTiltalignsTargetAndOverlap()
    {
        // Extent 1000 px, target 700, overlap 0.5: n = int(300 / 350) + 1 = 1 → 2; size = int(1000 / 1.5) = 666 ≤ 735;
        // spacing int(334 / 1) + 1 = 335; first centre int(0 + 333) = 333.
        Assert.Equal((2, 666, 335, 333), LocalAligner.Axis(0, 1000, 700, 0.5));
        // Extent 2000: n = int(1300 / 350) + 1 = 4; size int(2000 / 2.5) = 800 > 735 → n = 5, size int(2000 / 3) = 666;
        // spacing int(1334 / 4) + 1 = 334; first centre 100 + 333.
        Assert.Equal((5, 666, 334, 433), LocalAligner.Axis(100, 2100, 700, 0.5));
    }

    private static (SolveResult Global, SolveInput Input) SolveBB()
    {
        var bb = BBData.Load("BBa");
        var nominal = Enumerable.Range(0, 61).Select(i => 65.0 - 2 * i).ToArray();
        var input = new SolveInput(bb.Observations, 512, 512, nominal, -12.5);
        var options = new SolveOptions
        {
            Rotation = VariableOption.PerView, Tilt = VariableOption.Linear(5), Magnification = VariableOption.Linear(4),
            ReferenceView = 30, Robust = true, XStretch = SolveOptions.PresetXStretch, Skew = SolveOptions.PresetSkew,
        };
        return (new BundleSolver(new CpuBundleNormalEquations()).Solve(input, options), input);
    }

    /// <summary>
    /// IMOD's BB beads (512², 23 beads): with areas of 256 px (the field is too small for etomo's 700) each area's solution fits
    /// its own points better than the global one does; every area has at least the minimum of beads.
    /// </summary>
    [Fact]
    public void LocalAreasFitTheRealBeadsBetterThanTheGlobalSolution()
    {
        var (global, input) = SolveBB();
        var options = new LocalOptions { TargetSizeX = 256, TargetSizeY = 256 };
        var local = new LocalAligner().Solve(input, global, options);
        output.WriteLine($"global {global.Overall.Mean:F4} px; {local.NumberX}×{local.NumberY} areas, local mean {local.MeanResidual:F4} px, " +
                         $"range {local.Areas.Min(a => a.Residual.Mean):F4}–{local.Areas.Max(a => a.Residual.Mean):F4}, global over the same points {local.Areas.Average(a => a.GlobalResidual.Mean):F4}");
        foreach (var a in local.Areas)
            output.WriteLine($"  area {a.Ix},{a.Iy} centre ({a.CenterX:F0},{a.CenterY:F0}) size {a.SizeX:F0}×{a.SizeY:F0}: {a.Landmarks.Length} beads ({a.Bottom}/{a.Top}), {a.Residual.Count} points, {a.Variables} variables, {a.Residual.Mean:F4} px (global {a.GlobalResidual.Mean:F4})");
        Assert.True(local.NumberX >= 2 && local.NumberY >= 2);
        foreach (var a in local.Areas)
        {
            Assert.True(a.Landmarks.Length >= options.MinLandmarks, $"area {a.Ix},{a.Iy} has {a.Landmarks.Length} beads");
            Assert.True(a.Residual.Mean < a.GlobalResidual.Mean, $"area {a.Ix},{a.Iy}: local {a.Residual.Mean:F4} px, global {a.GlobalResidual.Mean:F4} px");
        }
        Assert.True(local.MeanResidual < 0.95 * global.Overall.Mean, $"local mean {local.MeanResidual:F4} px vs global {global.Overall.Mean:F4} px");
    }

    /// <summary>
    /// The file's projection of a point through one area (tilt change, z factors, refinement transform) is where the area's
    /// own geometry puts it in the globally aligned stack, for views with distortion too; and the file reads back as written.
    /// </summary>
    [Fact]
    public void LocalFileProjectsAsTheAreaGeometryAndRoundTrips()
    {
        var (global, input) = SolveBB();
        var local = new LocalAligner().Solve(input, global, new LocalOptions { TargetSizeX = 256, TargetSizeY = 256 });
        var file = LocalAlignmentFile.From(local, 20.2);
        Assert.NotNull(file.ZFactors); // the global solve has distortion
        string path = Path.Combine(Path.GetTempPath(), $"tomalign-local-{Guid.NewGuid():N}.xf");
        try
        {
            file.Write(path);
            var back = LocalAlignmentFile.Read(path, 61);
            Assert.Equal((file.NumberX, file.NumberY, file.StartX, file.StartY, file.DeltaX, file.DeltaY), (back.NumberX, back.NumberY, back.StartX, back.StartY, back.DeltaX, back.DeltaY));
            double worst = 0, worstFile = 0;
            for (int k = 0; k < file.Areas; k++)
                for (int i = 0; i < 61; i += 3)
                {
                    var l = local.Areas[k].Views[i];
                    foreach (var (x, y, z) in new[] { (-100.0, 50.0, 30.0), (120.0, -80.0, -40.0), (0.0, 0.0, 0.0) })
                    {
                        var (rx, ry) = l.ProjectPoint(x, y, z);
                        var (ex, ey) = global.Views[i].RawToAligned().ApplyCentred(rx, ry);
                        var (uf, uz, vf, vz) = file.Area(k, i, x, y, global.Views[i].TiltDegrees, 0);
                        worst = Math.Max(worst, Math.Max(Math.Abs(uf + uz * z - ex), Math.Abs(vf + vz * z - ey)));
                        var (bf, bz, cf, cz) = back.Area(k, i, x, y, global.Views[i].TiltDegrees, 0);
                        worstFile = Math.Max(worstFile, Math.Max(Math.Abs(bf + bz * z - ex), Math.Abs(cf + cz * z - ey)));
                    }
                }
            output.WriteLine($"largest difference from the area geometry: {worst:E2} px exact, {worstFile:E2} px after the file's decimals");
            Assert.True(worst < 1e-9, $"{worst} px");
            Assert.True(worstFile < 0.01, $"{worstFile} px after writing");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ShortLocalFileIsAnInputErrorNamingIt()
    {
        string path = Path.Combine(Path.GetTempPath(), $"tomalign-local-{Guid.NewGuid():N}.xf");
        try
        {
            File.WriteAllLines(path, ["     2     2   100   100   200   200     0     1.00000   0", "0 0 0"]);
            var e = Assert.Throws<Tomalign.Core.TomalignInputException>(() => LocalAlignmentFile.Read(path, 3));
            Assert.Equal(path, e.File);
        }
        finally { File.Delete(path); }
    }
}

/// <summary>A landmark series with the simulator's known local warp (<see cref="Tomalign.Core.Simulation.LocalWarp"/>), aligned with and without local areas.</summary>
public class LocalWarpAlignmentTests(ITestOutputHelper output)
{
    internal sealed record WarpedSeries(SolveInput Input, double[][] Points, ViewGeometry[] Truth, double Amplitude, int Size)
    {
        /// <summary>The noiseless projection (raw image, relative to the centre) of landmark j in view i.</summary>
        public (double X, double Y) True(int j, int i)
        {
            var p = Points[j];
            var (x, y) = Truth[i].ProjectPoint(p[0], p[1], p[2]);
            var (wx, wy) = Tomalign.Core.Simulation.LocalWarp.Displacement(Amplitude, Input.TiltDegrees[i] / 60.0, p[0], p[1], Size, Size);
            return (x + wx, y + wy);
        }
    }

    /// <summary>60 landmarks over a 1024² field in a 150 px slab, 61 views ±60°, per-view errors, the warp, 0.2 px noise.</summary>
    internal static WarpedSeries Create(int seed, double amplitude, double sigma = 0.2)
    {
        var rng = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        const int views = 61, landmarks = 60, size = 1024;
        var nominal = Enumerable.Range(0, views).Select(i => -60.0 + 2 * i).ToArray();
        var truth = new ViewGeometry[views];
        for (int i = 0; i < views; i++)
        {
            bool r = i == 30;
            truth[i] = new ViewGeometry(nominal[i] + (r ? 0 : 0.2 * Gauss()), 5 + 0.2 * Gauss(), r ? 1 : 1 + 0.003 * Gauss(), 3 * Gauss(), 3 * Gauss());
        }
        var pts = new double[landmarks][];
        for (int j = 0; j < landmarks; j++)
            pts[j] = [rng.NextDouble() * 880 - 440, rng.NextDouble() * 880 - 440, (j % 2 == 0 ? 75 : -75) + 5 * Gauss()];
        for (int c = 0; c < 3; c++)
        {
            double mean = pts.Average(p => p[c]);
            foreach (var p in pts) p[c] -= mean;
        }
        var series = new WarpedSeries(new SolveInput([], size, size, nominal, 5), pts, truth, amplitude, size);
        var obs = new List<LandmarkObservation>();
        for (int j = 0; j < landmarks; j++)
            for (int i = 0; i < views; i++)
            {
                if (rng.NextDouble() < 0.1) continue;
                var (x, y) = series.True(j, i);
                obs.Add(new LandmarkObservation(j, i, x + size / 2.0 + sigma * Gauss(), y + size / 2.0 + sigma * Gauss()));
            }
        return series with { Input = series.Input with { Observations = obs } };
    }

    /// <summary>RMS distance (px) of the predicted from the noiseless projections of every landmark in every view, global and through the local file.</summary>
    internal static (double Global, double Local) Errors(WarpedSeries s, SolveResult global, LocalAlignmentFile file)
    {
        double sg = 0, sl = 0;
        int n = 0;
        foreach (var l in global.Landmarks)
            for (int i = 0; i < s.Truth.Length; i++)
            {
                var (tx, ty) = s.True(l.Id, i);
                var g = global.Views[i];
                var (gx, gy) = g.ProjectPoint(l.X, l.Y, l.Z);
                var (uf, uz, vf, vz) = file.Column(i, l.X, l.Y, g.TiltDegrees, g.XAxisTiltDegrees, s.Size, s.Size);
                var (lx, ly) = g.AlignedToRaw().ApplyCentred(uf + uz * l.Z, vf + vz * l.Z);
                sg += (gx - tx) * (gx - tx) + (gy - ty) * (gy - ty);
                sl += (lx - tx) * (lx - tx) + (ly - ty) * (ly - ty);
                n++;
            }
        return (Math.Sqrt(sg / n), Math.Sqrt(sl / n));
    }

    /// <summary>
    /// The known warp (up to 2 × 3 px at the corners at ±60°) is fitted closer to the truth with local areas than by the global
    /// solution alone, measured against the noiseless projections of every landmark in every view (missing ones included); without a
    /// warp local areas do not make the alignment worse than noise.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void KnownLocalWarpIsAlignedCloserToTheTruthWithLocalAreas(int seed)
    {
        // Per-view variables: the series' view errors are then modelled exactly, and only the warp is left to the local areas.
        var options = new SolveOptions { Rotation = VariableOption.PerView, Tilt = VariableOption.PerView, Magnification = VariableOption.PerView, ReferenceView = 30 };
        var localOptions = new LocalOptions { TargetSizeX = 500, TargetSizeY = 500 };
        foreach (double amplitude in new[] { 3.0, 0.0 })
        {
            var s = Create(seed, amplitude);
            var global = new BundleSolver(new CpuBundleNormalEquations()).Solve(s.Input, options);
            var local = new LocalAligner().Solve(s.Input, global, localOptions);
            var (eg, el) = Errors(s, global, LocalAlignmentFile.From(local));
            output.WriteLine($"seed {seed}, warp {amplitude} px: {local.NumberX}×{local.NumberY} areas; residual global {global.Overall.Mean:F3} px, local mean {local.MeanResidual:F3} px; " +
                             $"error against the truth (RMS over every landmark and view): global {eg:F3} px, local {el:F3} px");
            if (amplitude > 0)
            {
                Assert.True(el < 0.6 * eg, $"local {el:F3} px vs global {eg:F3} px");
                Assert.True(local.MeanResidual < 0.7 * global.Overall.Mean, $"local residual {local.MeanResidual:F3} vs global {global.Overall.Mean:F3}");
            }
            else Assert.True(el < eg + 0.05 && el < 0.2, $"without a warp the local alignment is {el:F3} px from the truth, the global {eg:F3} px");
        }
    }
}
