using System.Diagnostics;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Patches;
using Tomalign.Core.Simulation;
using Tomalign.Core.Solve;
using Tomalign.Cpu;

namespace Tomalign.Bench;

/// <summary>
/// Patch tracking across the simulation zoo (docs/MARKERLESS.md, "patch tracking across styles"): per style and seed,
/// the coarse stage's field error, the tracks' error against the truth, and the solve's field error, error with the
/// solved tilts and tilt error, as `tomalign align --markerless` runs them.
/// <code>
///   dotnet run -c Release --project bench/Tomalign.Bench -- patch-zoo [STYLES] [SIZE] [SEEDS]
///   e.g. patch-zoo markerless,markerless-weak 512 101,102
/// </code>
/// Settings by environment variable: PZ_BIN, PZ_PATCH, PZ_OVERLAP, PZ_PIECE (patch options; unset: automatic),
/// PZ_VERBOSE=1 (per-view errors).
/// </summary>
internal static class PatchZooStudy
{
    public static void Run(string[] args)
    {
        var styles = (args.Length > 1 ? args[1] : "markerless,markerless-weak").Split(',');
        int n = args.Length > 2 ? int.Parse(args[2]) : 512;
        var seeds = (args.Length > 3 ? args[3] : "101").Split(',').Select(int.Parse).ToArray();
        var options = new PatchTrackOptions();
        if (Env("PZ_BIN") is { } b) options = options with { Bin = int.Parse(b) };
        if (Env("PZ_PATCH") is { } p) options = options with { PatchSize = int.Parse(p) };
        if (Env("PZ_OVERLAP") is { } o) options = options with { Overlap = double.Parse(o) };
        if (Env("PZ_ROUNDS") is { } rr) options = options with { RefineRounds = int.Parse(rr) };
        if (Env("PZ_LAGS") is { } lg) options = options with { Lags = int.Parse(lg) };
        if (Env("PZ_PIECE") is { } pc) options = options with { PieceLength = int.Parse(pc) };
        Console.WriteLine("style seed | coarse | patch bin pieces obs strength | trk-fit trk-mid | field withTilts tilt° | truth-lm");
        foreach (var style in styles)
            foreach (int seed in seeds)
                One(style, n, seed, options);
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name);

    private static void One(string style, int n, int seed, PatchTrackOptions baseOptions)
    {
        var sw = Stopwatch.StartNew();
        var so = SimulationZoo.Options(style, n, seed);
        if (Env("PZ_DOSE") is { } dose) so = so with { DoseElectronsPerPixel = double.Parse(dose) };
        if (Env("PZ_THICK") is { } thick) so = so with { ThicknessPixels = double.Parse(thick) };
        if (Env("PZ_JITTER") == "0") so = so with { RotationJitterDegrees = 0, MagnificationJitter = 0, TiltErrorDegrees = 0 };
        var series = new TiltSeriesSimulator().Simulate(so);
        var tilts = series.NominalTilts;
        double axis = Env("PZ_AXIS") is { } ax ? double.Parse(ax) : series.Options.TiltAxisDegrees;
        int nz = series.ViewCount;
        var coarse = new CoarseAligner(new CpuPairCorrelator()).Align(series.Raw, tilts, new CoarseAlignOptions { TiltAxisDegrees = axis });
        var cpu = new CpuBackend();
        var pre = new ImageStack(n, n, nz);
        cpu.Warper.Warp(series.Raw.Data, n, n, nz, coarse.Prexg, series.Raw.ViewMeans(), new WarpOptions(1, Interpolation.Linear), pre.Data);
        double coarseError = AlignmentCheck.FieldErrorAfterGauge(series, coarse.Prexg.Select(g => Xf.Product(g, Xf.RotationScale(-axis, 1, 0, 0))).ToArray());
        double tCoarse = sw.Elapsed.TotalSeconds;
        sw.Restart();
        PatchTrackResult track;
        try { track = new PatchTracker(new CpuPairCorrelator()).Track(pre, tilts, baseOptions with { TiltAxisDegrees = axis }); }
        catch (Exception e) { Console.WriteLine($"{style} {seed} | coarse {coarseError:F2} | tracking failed: {e.Message}"); return; }
        double tTrack = sw.Elapsed.TotalSeconds;
        var (fitRms, midRms, byDist) = TrackErrors(series, coarse.Prexg, track.Observations, n);
        if (track.Landmarks == 0) { Console.WriteLine($"{style} {seed} | coarse {coarseError:F2} | no landmark ({string.Join("; ", track.Warnings)})"); return; }
        sw.Restart();
        var solveOptions = new SolveOptions
        {
            Robust = true, WeightWholeTracks = true, Tilt = VariableOption.Auto, Magnification = VariableOption.Auto, TiltPrior = TiltPriorOption.Auto,
            AxisHold = Env("PZ_HOLD") switch { "auto" => AxisHoldMode.Auto, "held" => AxisHoldMode.Held, _ => AxisHoldMode.Free },
        };
        if (Env("PZ_SUBSET") is { } sub)
        {
            double lim = double.Parse(sub);
            var subObs = track.Observations.Where(o => Math.Abs(tilts[o.View]) <= lim).ToList();
            var sv = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(subObs, n, n, tilts, axis), solveOptions);
            var idx = Enumerable.Range(0, nz).Where(i => Math.Abs(tilts[i]) <= lim).ToArray();
            Console.WriteLine($"   subset |tilt| <= {lim}: axis error {idx.Average(i => sv.Views[i].AxisAngleDegrees - series.TrueGeometry[i].AxisAngleDegrees):F3}°");
        }
        var solved = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(track.Observations, n, n, tilts, axis), solveOptions);
        var final = Enumerable.Range(0, nz).Select(i => Xf.Product(coarse.Prexg[i], solved.Views[i].RawToAligned())).ToArray();
        var solvedTilts = solved.Views.Select(v => v.TiltDegrees).ToArray();
        double field = AlignmentCheck.FieldErrorAfterGauge(series, final);
        double withTilts = AlignmentCheck.FieldErrorWithTilts(series, final, solvedTilts);
        var tiltErr = AlignmentCheck.TiltError(series, solvedTilts);
        double tSolve = sw.Elapsed.TotalSeconds;
        if (Env("PZ_JACK") is { } jk)
        {
            // Delete-a-block jackknife of the solved mean axis angle: tracks grouped by their mean position on a g×g grid.
            int g = int.Parse(jk);
            var pos = track.Observations.GroupBy(o => o.Landmark).ToDictionary(q => q.Key, q => (q.Average(o => o.X), q.Average(o => o.Y)));
            int Block(int id) { var (x, y) = pos[id]; return Math.Clamp((int)(x / n * g), 0, g - 1) * g + Math.Clamp((int)(y / n * g), 0, g - 1); }
            double full = solved.Views.Average(v => v.AxisAngleDegrees);
            var est = new List<double>();
            for (int b2 = 0; b2 < g * g; b2++)
            {
                var keep = track.Observations.Where(o => Block(o.Landmark) != b2).ToList();
                if (keep.Count == track.Observations.Count) continue;
                var sj = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(keep, n, n, tilts, axis), solveOptions);
                est.Add(sj.Views.Average(v => v.AxisAngleDegrees));
            }
            double m = est.Average(); int G = est.Count;
            double se = Math.Sqrt((G - 1.0) / G * est.Sum(e => (e - m) * (e - m)));
            double truthAxis = series.TrueGeometry.Average(v2 => v2.AxisAngleDegrees);
            Console.WriteLine($"   jackknife ({G} blocks): axis {full:F3}° (truth {truthAxis:F3}, given {axis}), SE {se:F3}°; blocks {string.Join(" ", est.Select(e => (e - full).ToString("F2")))}");
        }
        {
            // Diagnostics: the field error with the solve's mean rotation (the tilt axis) and mean magnification set to the truth's.
            double dRot = Enumerable.Range(0, nz).Average(i => solved.Views[i].AxisAngleDegrees - series.TrueGeometry[i].AxisAngleDegrees);
            var rotFixed = final.Select(f => Xf.Product(f, Xf.RotationScale(dRot, 1))).ToArray();
            Console.WriteLine($"   axis error {dRot:F3}°: field with the true axis {AlignmentCheck.FieldErrorAfterGauge(series, rotFixed):F3}, with tilts {AlignmentCheck.FieldErrorWithTilts(series, rotFixed, solvedTilts):F3}");
        }
        // The floor: the same solve on ideal landmarks (the field points seen through the truth in the prealigned frame).
        double truthField = double.NaN;
        if (Env("PZ_TRUTH") == "1")
        {
            var pts = series.FieldPoints();
            var obs = new List<LandmarkObservation>();
            for (int v = 0; v < nz; v++)
            {
                var raw = series.TrueProjections(v, false, pts);
                for (int j = 0; j < pts.Count; j++)
                {
                    var (x, y) = coarse.Prexg[v].Apply(raw[j].X, raw[j].Y, n / 2.0, n / 2.0);
                    obs.Add(new LandmarkObservation(j, v, x, y));
                }
            }
            var s = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(obs, n, n, tilts, axis), solveOptions);
            truthField = AlignmentCheck.FieldErrorAfterGauge(series, Enumerable.Range(0, nz).Select(i => Xf.Product(coarse.Prexg[i], s.Views[i].RawToAligned())).ToArray());
        }
        if (solved.AxisChoice is { } ac) Console.WriteLine("   " + ac.Reason);
        Console.WriteLine($"{style} {seed} | {coarseError:F2} | {track.PatchSize} {track.Bin} {track.Landmarks} {track.Observations.Count} {track.MedianStrength:F3} | " +
            $"{fitRms:F2} {midRms:F2} | {field:F3} {withTilts:F3} {tiltErr.Rms:F2} ({solved.TiltChoice?.Chosen}) | {truthField:F3}   " +
            $"[{tCoarse:F0}+{tTrack:F0}+{tSolve:F0} s] resid {solved.Overall.Mean:F2}; by |v-ref|/5: {byDist}");
        Console.WriteLine($"   step errors: along RMS {Math.Sqrt(StepAlong.Average(v => v * v)):F3} mean {StepAlong.Average():F3}, across RMS {Math.Sqrt(StepAcross.Average(v => v * v)):F3} mean {StepAcross.Average():F3} (n {StepAlong.Count})");
        StepAlong.Clear(); StepAcross.Clear();
        if (Env("PZ_VERBOSE") == "1")
        {
            Console.WriteLine("   track scale along axis (%): " + string.Join(" ", ScaleAcc.Select(kv => (100 * kv.Value[0] / kv.Value[1]).ToString("F2"))));
            Console.WriteLine("   track scale across axis (%): " + string.Join(" ", ScaleAcc.Select(kv => (100 * kv.Value[2] / kv.Value[3]).ToString("F2"))));
            Console.WriteLine("   along-resid per across-pos (mrad): " + string.Join(" ", ScaleAcc.Select(kv => (1000 * kv.Value[4] / kv.Value[3]).ToString("F2"))));
            Console.WriteLine("   across-resid per along-pos (mrad): " + string.Join(" ", ScaleAcc.Select(kv => (1000 * kv.Value[5] / kv.Value[1]).ToString("F2"))));
            Console.WriteLine("   track rotation (°): " + string.Join(" ", ScaleAcc.Select(kv => (180 / Math.PI * 0.5 * (kv.Value[4] / kv.Value[3] - kv.Value[5] / kv.Value[1])).ToString("F2"))));
        }
        ScaleAcc.Clear();
        Console.WriteLine($"   auto: cutoff {track.SpectralCutoff:F3} c/px, peak SNR {track.MedianPeakSnr:F2}, weak {track.WeakPatches}, featureless {track.FeaturelessPatches} of {track.Patches}, link residual {track.LinkResidualPixels:F2} px");
        foreach (var w in track.Warnings) Console.WriteLine("   warning: " + w);
        if (Env("PZ_VERBOSE") == "1")
        {
            Console.WriteLine("   rot err (°): " + string.Join(" ", Enumerable.Range(0, nz).Select(i => (solved.Views[i].AxisAngleDegrees - series.TrueGeometry[i].AxisAngleDegrees).ToString("F2"))));
            Console.WriteLine("   mag err (%): " + string.Join(" ", Enumerable.Range(0, nz).Select(i => (100 * (solved.Views[i].Magnification / series.TrueGeometry[i].Magnification - 1)).ToString("F2"))));
            Console.WriteLine("   tilt err (°): " + string.Join(" ", Enumerable.Range(0, nz).Select(i => (solvedTilts[i] - series.TrueTilts[i] - tiltErr.Offset).ToString("F2"))));
        }
    }

    /// <summary>
    /// The tracks' error against the truth, in the prealigned frame: (a) RMS from the best fixed 3-D point per landmark,
    /// seen through the true geometry; (b) RMS from the landmark's position in the reference view taken as a point at the
    /// slab's mid-plane (z = 0); and (a) by distance from the reference view in steps of 5 views.
    /// </summary>
    internal static readonly List<double> StepAlong = [], StepAcross = [];
    internal static readonly SortedDictionary<int, double[]> ScaleAcc = [];

    internal static (double Fit, double Mid, string ByDistance) TrackErrors(SimulatedSeries series, Xf[] prexg, IReadOnlyList<LandmarkObservation> obs, int n)
    {
        int nz = series.ViewCount;
        var maps = new (double[] M, double Tx, double Ty)[nz];
        for (int v = 0; v < nz; v++)
        {
            var raw = series.TrueProjections(v, false, [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]);
            var q = raw.Select(r => prexg[v].Apply(r.X, r.Y, n / 2.0, n / 2.0)).ToArray();
            maps[v] = ([q[1].X - q[0].X, q[2].X - q[0].X, q[3].X - q[0].X, q[1].Y - q[0].Y, q[2].Y - q[0].Y, q[3].Y - q[0].Y], q[0].X, q[0].Y);
        }
        var fit = new List<double>(); var mid = new List<double>();
        var byDist = new SortedDictionary<int, List<double>>();
        foreach (var g in obs.GroupBy(o => o.Landmark))
        {
            var list = g.ToList();
            if (list.Count < 3) continue;
            var a = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(2 * list.Count, 3);
            var bv = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(2 * list.Count);
            for (int i = 0; i < list.Count; i++)
            {
                var m = maps[list[i].View];
                for (int j = 0; j < 3; j++) { a[2 * i, j] = m.M[j]; a[2 * i + 1, j] = m.M[3 + j]; }
                bv[2 * i] = list[i].X - m.Tx; bv[2 * i + 1] = list[i].Y - m.Ty;
            }
            var x = a.Solve(bv);
            var r = a * x - bv;
            // Step errors: the tracked increment minus the fitted point's increment, along / across the axis.
            var ordered = Enumerable.Range(0, list.Count).OrderBy(i => list[i].View).ToArray();
            for (int k = 1; k < ordered.Length; k++)
            {
                int i0 = ordered[k - 1], i1 = ordered[k];
                double ex = r[2 * i1] - r[2 * i0], ey = r[2 * i1 + 1] - r[2 * i0 + 1];
                double ax = -Math.Sin(series.Options.TiltAxisDegrees * Math.PI / 180), ay = Math.Cos(series.Options.TiltAxisDegrees * Math.PI / 180);
                StepAlong.Add(ex * ax + ey * ay); StepAcross.Add(ex * ay - ey * ax);
            }
            {
                double ax = -Math.Sin(series.Options.TiltAxisDegrees * Math.PI / 180), ay = Math.Cos(series.Options.TiltAxisDegrees * Math.PI / 180);
                for (int i = 0; i < list.Count; i++)
                {
                    double qx = list[i].X - n / 2.0, qy = list[i].Y - n / 2.0;
                    double along = qx * ax + qy * ay, across = qx * ay - qy * ax;
                    double ra = -(r[2 * i] * ax + r[2 * i + 1] * ay), rc = -(r[2 * i] * ay - r[2 * i + 1] * ax);
                    var acc = ScaleAcc.TryGetValue(list[i].View, out var z) ? z : new double[6];
                    acc[0] += ra * along; acc[1] += along * along; acc[2] += rc * across; acc[3] += across * across;
                    acc[4] += ra * across; acc[5] += rc * along;
                    ScaleAcc[list[i].View] = acc;
                }
            }
            for (int i = 0; i < list.Count; i++)
            {
                double e2 = r[2 * i] * r[2 * i] + r[2 * i + 1] * r[2 * i + 1];
                fit.Add(e2);
                int d = Math.Abs(list[i].View - series.ReferenceView) / 5;
                if (!byDist.TryGetValue(d, out var l)) byDist[d] = l = [];
                l.Add(e2);
            }
            // Mid-plane point: (x, y) from the view nearest the reference with z = 0.
            var first = list.MinBy(o => Math.Abs(o.View - series.ReferenceView));
            var m0 = maps[first.View];
            double det = m0.M[0] * m0.M[4] - m0.M[1] * m0.M[3];
            double dx = first.X - m0.Tx, dy = first.Y - m0.Ty;
            double px = (dx * m0.M[4] - dy * m0.M[1]) / det, py = (m0.M[0] * dy - m0.M[3] * dx) / det;
            foreach (var o in list)
            {
                var m = maps[o.View];
                double ex = o.X - (m.M[0] * px + m.M[1] * py + m.Tx), ey = o.Y - (m.M[3] * px + m.M[4] * py + m.Ty);
                mid.Add(ex * ex + ey * ey);
            }
        }
        if (fit.Count == 0) return (double.NaN, double.NaN, "");
        return (Math.Sqrt(fit.Average()), Math.Sqrt(mid.Average()),
            string.Join(" ", byDist.Select(k => $"{k.Key}:{Math.Sqrt(k.Value.Average()):F2}")));
    }
}
