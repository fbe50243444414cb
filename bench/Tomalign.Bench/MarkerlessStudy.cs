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
/// The markerless-accuracy study behind docs/MARKERLESS.md: simulate a series, coarse-align it, track patches, and
/// solve with several option sets; print the alignment error over the field against the truth, how far the tracks are
/// from fixed 3-D points, and (EXP_VERBOSE=1) the per-view rotation, magnification and tilt errors. Settings by
/// environment variable: EXP_N (size, 1024), EXP_STEP (tilt step, 2), EXP_SEED (21), EXP_BEADS=1 (keep the beads),
/// EXP_DOSE, EXP_THICK, EXP_BINS, EXP_PIECES, EXP_CLIP, EXP_PATCH, EXP_R2, EXP_OVERLAP (comma lists), EXP_ONLY (indices
/// of the solve variants to run), EXP_PASS2=1 (re-track on the aligned stack), EXP_IDEAL=1 with EXP_WALK / EXP_WHITE
/// (replace the tracks by ideal ones plus noise), EXP_DECOMP=1 (which part of the tracks' error moves the solve),
/// EXP_AXIS=1 with EXP_AXISBIN (projection-matching score and true error over a global rotation offset), EXP_AP=1 with
/// EXP_APROUNDS, EXP_APBIN, EXP_APSTRIPS, EXP_APSEG, EXP_APWIDTH, EXP_APDEG, EXP_APSMOOTH (the axis-profile
/// refinement after the solve, and the specimen-thickness estimate).
/// Run: dotnet run -c Release --project bench/Tomalign.Bench -- markerless-study
/// </summary>
public static class MarkerlessStudy
{
    public static void Run()
    {
        int n = int.Parse(Environment.GetEnvironmentVariable("EXP_N") ?? "1024");
        double step = double.Parse(Environment.GetEnvironmentVariable("EXP_STEP") ?? "2");
        int seed = int.Parse(Environment.GetEnvironmentVariable("EXP_SEED") ?? "21");
        var sw = Stopwatch.StartNew();
        var so = SimulationOptions.ForSize(n);
        if (Environment.GetEnvironmentVariable("EXP_BEADS") != "1") so = so with { BeadCount = 0 };
        if (Environment.GetEnvironmentVariable("EXP_DOSE") is { } dose) so = so with { DoseElectronsPerPixel = double.Parse(dose) };
        if (Environment.GetEnvironmentVariable("EXP_THICK") is { } thick) so = so with { ThicknessPixels = double.Parse(thick) };
        var series = new TiltSeriesSimulator().Simulate(so with { Seed = seed, TiltStep = step });
        Console.WriteLine($"simulate {sw.Elapsed.TotalSeconds:F1} s, {series.Raw.Nz} views");
        var tilts = series.NominalTilts;
        double axis = series.Options.TiltAxisDegrees;
        sw.Restart();
        var coarse = new CoarseAligner(new CpuPairCorrelator()).Align(series.Raw, tilts, new CoarseAlignOptions { TiltAxisDegrees = axis });
        var cpu = new CpuBackend();
        var pre = new ImageStack(n, n, series.Raw.Nz);
        var fill = new float[series.Raw.Nz];
        Array.Fill(fill, 1f);
        cpu.Warper.Warp(series.Raw.Data, n, n, series.Raw.Nz, coarse.Prexg, fill, new WarpOptions(1, Interpolation.Linear), pre.Data);
        double coarseError = AlignmentCheck.FieldErrorAfterGauge(series, coarse.Prexg.Select(g => Xf.Product(g, Xf.RotationScale(-axis, 1, 0, 0))).ToArray());
        Console.WriteLine($"coarse {sw.Elapsed.TotalSeconds:F1} s, error {coarseError:F3}");

        // Model limit: true field points projected through the truth into the prealigned frame, as landmarks.
        var pts = series.FieldPoints();
        var truthObs = new List<LandmarkObservation>();
        for (int v = 0; v < series.Raw.Nz; v++)
        {
            var raw = series.TrueProjections(v, false, pts);
            for (int j = 0; j < pts.Count; j++)
            {
                var (x, y) = coarse.Prexg[v].Apply(raw[j].X, raw[j].Y, n / 2.0, n / 2.0);
                truthObs.Add(new LandmarkObservation(j, v, x, y));
            }
        }
        var variants = new (string Name, SolveOptions O)[]
        {
            ("mag+tilt per view, whole tracks", new SolveOptions { Robust = true, WeightWholeTracks = true, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView }),
            ("per view, not robust", new SolveOptions { Robust = false, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView }),
            ("per view, robust points", new SolveOptions { Robust = true, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView }),
            ("per view, whole, one stage", new SolveOptions { Robust = true, WeightWholeTracks = true, TwoStage = false, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView }),
            ("per view, whole, min views 8", new SolveOptions { Robust = true, WeightWholeTracks = true, MinViewsPerLandmark = 8, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView }),
            ("tilt fixed, mag per view, whole", new SolveOptions { Robust = true, WeightWholeTracks = true, Magnification = VariableOption.PerView, Tilt = VariableOption.Fixed }),
            ("tilt global, mag per view, whole", new SolveOptions { Robust = true, WeightWholeTracks = true, Magnification = VariableOption.PerView, Tilt = VariableOption.Global }),
        };
        if (Environment.GetEnvironmentVariable("EXP_ONLY") is { } only)
            variants = only.Split(',').Select(int.Parse).Select(k => variants[k]).ToArray();
        foreach (var (name, o) in variants)
        {
            var s = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(truthObs, n, n, tilts, axis), o);
            var fin = Enumerable.Range(0, series.Raw.Nz).Select(i => Xf.Product(coarse.Prexg[i], s.Views[i].RawToAligned())).ToArray();
            Console.WriteLine($"truth landmarks, {name}: error {AlignmentCheck.FieldErrorAfterGauge(series, fin):F3}, resid {s.Overall.Mean:F3}");
        }

        foreach (var bin in (Environment.GetEnvironmentVariable("EXP_BINS") ?? "4").Split(',').Select(int.Parse))
        foreach (var piece in (Environment.GetEnvironmentVariable("EXP_PIECES") ?? "16").Split(',').Select(int.Parse))
        foreach (var clip in (Environment.GetEnvironmentVariable("EXP_CLIP") ?? "0").Split(',').Select(double.Parse))
        foreach (var psize in (Environment.GetEnvironmentVariable("EXP_PATCH") ?? "0").Split(',').Select(int.Parse))
        foreach (var r2 in (Environment.GetEnvironmentVariable("EXP_R2") ?? "0").Split(',').Select(double.Parse))
        foreach (var overlap in (Environment.GetEnvironmentVariable("EXP_OVERLAP") ?? "0.75").Split(',').Select(double.Parse))
        {
            sw.Restart();
            var track = new PatchTracker(new CpuPairCorrelator()).Track(pre, tilts, new PatchTrackOptions { TiltAxisDegrees = axis, Bin = bin, PieceLength = piece, ClipStdDevs = clip, PatchSize = psize, Filter = r2 > 0 ? new BandPassFilter(0.03, r2, 0.05) : null, Overlap = overlap });
            var idealObs = TrackTruth(series, coarse.Prexg, track.Observations, n,
                double.Parse(Environment.GetEnvironmentVariable("EXP_WALK") ?? "0"), double.Parse(Environment.GetEnvironmentVariable("EXP_WHITE") ?? "0"));
            if (Environment.GetEnvironmentVariable("EXP_IDEAL") == "1") track = track with { Observations = idealObs };
            if (Environment.GetEnvironmentVariable("EXP_DECOMP") == "1") Decompose(series, coarse.Prexg, track.Observations, idealObs, n, tilts, axis, variants[0].O);
            Console.WriteLine($"bin {bin} overlap {overlap} r2 {r2} piece {piece} patch {psize}/{track.PatchSize}: track {sw.Elapsed.TotalSeconds:F1} s, {track.Landmarks} pieces, {track.Observations.Count} obs, strength {track.MedianStrength:F3}");
            foreach (var (name, o) in variants)
            {
                sw.Restart();
                var s = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(track.Observations, n, n, tilts, axis), o);
                var fin = Enumerable.Range(0, series.Raw.Nz).Select(i => Xf.Product(coarse.Prexg[i], s.Views[i].RawToAligned())).ToArray();
                double rotErr = Math.Sqrt(Enumerable.Range(0, series.Raw.Nz).Average(i => Math.Pow(s.Views[i].AxisAngleDegrees - series.TrueGeometry[i].AxisAngleDegrees, 2)));
                if (Environment.GetEnvironmentVariable("EXP_AXIS") == "1")
                    AxisScan(series, Enumerable.Range(0, series.Raw.Nz).Select(i => Xf.Product(coarse.Prexg[i], s.Views[i].RawToAligned())).ToArray(),
                        s.Views.Select(v => v.TiltDegrees).ToArray(), n, cpu, int.Parse(Environment.GetEnvironmentVariable("EXP_AXISBIN") ?? "4"));
                var rd = Enumerable.Range(0, series.Raw.Nz).Select(i => s.Views[i].AxisAngleDegrees - series.TrueGeometry[i].AxisAngleDegrees).ToArray();
                var md = Enumerable.Range(0, series.Raw.Nz).Select(i => s.Views[i].Magnification / series.TrueGeometry[i].Magnification - 1).ToArray();
                var td = Enumerable.Range(0, series.Raw.Nz).Select(i => s.Views[i].TiltDegrees - series.TrueTilts[i]).ToArray();
                if (Environment.GetEnvironmentVariable("EXP_VERBOSE") == "1") Console.WriteLine($"    rot err mean {rd.Average():F3} per view: {string.Join(" ", rd.Select(x => x.ToString("F2")))}");
                if (Environment.GetEnvironmentVariable("EXP_VERBOSE") == "1") Console.WriteLine($"    mag err: {string.Join(" ", md.Select(x => (100 * x).ToString("F2")))}");
                if (Environment.GetEnvironmentVariable("EXP_VERBOSE") == "1") Console.WriteLine($"    tilt err: {string.Join(" ", td.Select(x => x.ToString("F2")))}");
                Console.WriteLine($"  {name}: solve {sw.Elapsed.TotalSeconds:F1} s, error {AlignmentCheck.FieldErrorAfterGauge(series, fin):F3}, resid {s.Overall.Mean:F3}, rot err {rotErr:F3}, flagged {s.FlaggedPointCount}");
                if (Environment.GetEnvironmentVariable("EXP_AP") == "1")
                {
                    var zs = s.Landmarks.Where(l => !l.Flagged).Select(l => l.Z).OrderBy(z => z).ToArray();
                    Console.WriteLine($"    landmark z: 5 % {zs[(int)(0.05 * (zs.Length - 1))]:F1}, median {zs[zs.Length / 2]:F1}, 95 % {zs[(int)(0.95 * (zs.Length - 1))]:F1} (slab {series.Options.ThicknessPixels} px)");
                    var te = Tomalign.Core.Refine.SpecimenThickness.Estimate(cpu, series.Raw, fin, s.Views.Select(v => v.TiltDegrees).ToArray());
                    Console.WriteLine($"    thickness estimate {te.ThicknessPixels:F1} px, centre {te.CentrePixels:F1} (bin {te.Bin}); profile {string.Join(" ", te.Profile.Select(x => x.ToString("G3")))}");
                    var apo = new Tomalign.Core.Refine.AxisProfileOptions
                    {
                        Iterations = 1, Bin = int.Parse(Environment.GetEnvironmentVariable("EXP_APBIN") ?? "0"), ZCentre = zs[zs.Length / 2],
                        SmoothDegree = int.Parse(Environment.GetEnvironmentVariable("EXP_APDEG") ?? "1"),
                        SmoothingPixels = double.Parse(Environment.GetEnvironmentVariable("EXP_APSMOOTH") ?? "3"),
                        WidthFraction = double.Parse(Environment.GetEnvironmentVariable("EXP_APWIDTH") ?? "0.8"),
                        Strips = int.Parse(Environment.GetEnvironmentVariable("EXP_APSTRIPS") ?? "6"), Segments = int.Parse(Environment.GetEnvironmentVariable("EXP_APSEG") ?? "6"),
                    };
                    var cur = fin;
                    var solvedTilts = s.Views.Select(v => v.TiltDegrees).ToArray();
                    for (int round = 1; round <= int.Parse(Environment.GetEnvironmentVariable("EXP_APROUNDS") ?? "3"); round++)
                    {
                        var ap = new Tomalign.Core.Refine.AxisProfileRefiner(cpu.Warper).Refine(series.Raw, cur, solvedTilts, apo);
                        cur = ap.RawToAligned;
                        if (Environment.GetEnvironmentVariable("EXP_VERBOSE") == "1")
                        {
                            var rel = Enumerable.Range(0, series.Raw.Nz).Select(i => Xf.Product(series.AligningTransforms[i].Inverse(), cur[i])).ToArray();
                            Console.WriteLine("    ap rot err: " + string.Join(" ", rel.Select(d => (Math.Atan2(d.A21 - d.A12, d.A11 + d.A22) * 180 / Math.PI).ToString("F2"))));
                            Console.WriteLine("    ap mag err: " + string.Join(" ", rel.Select(d => (100 * (Math.Sqrt(Math.Abs(d.Determinant)) - 1)).ToString("F2"))));
                        }
                        Console.WriteLine($"    axis profiles round {round} (bin {ap.Bin}): error {AlignmentCheck.FieldErrorAfterGauge(series, cur):F3}, " +
                            $"rot {ap.Rounds[0].RmsRotationDegrees:F3}°, scale {ap.Rounds[0].RmsScalePercent:F3} %, shift {ap.Rounds[0].RmsShiftPixels:F2} px, {ap.Rounds[0].Matches} matches");
                    }
                }
                if (Environment.GetEnvironmentVariable("EXP_PASS2") == "1")
                {
                    for (int pass = 2; pass <= 3; pass++)
                    {
                        var ali = new ImageStack(n, n, series.Raw.Nz);
                        cpu.Warper.Warp(series.Raw.Data, n, n, series.Raw.Nz, fin, fill, new WarpOptions(1, Interpolation.Linear), ali.Data);
                        var tilts2 = Environment.GetEnvironmentVariable("EXP_P2NOM") == "1" ? tilts : s.Views.Select(v => v.TiltDegrees).ToArray();
                        var t2 = new PatchTracker(new CpuPairCorrelator()).Track(ali, tilts2, new PatchTrackOptions { TiltAxisDegrees = 0, Bin = bin, PieceLength = piece, ClipStdDevs = clip, PatchSize = psize, Filter = r2 > 0 ? new BandPassFilter(0.03, r2, 0.05) : null });
                        var s2 = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(t2.Observations, n, n, tilts2, 0), o);
                        fin = Enumerable.Range(0, series.Raw.Nz).Select(i => Xf.Product(fin[i], s2.Views[i].RawToAligned())).ToArray();
                        s = s2;
                        Console.WriteLine($"    pass {pass}: {t2.Landmarks} pieces, error {AlignmentCheck.FieldErrorAfterGauge(series, fin):F3}, resid {s2.Overall.Mean:F3}, strength {t2.MedianStrength:F3}");
                    }
                }
            }
        }
    }

    /// <summary>Which part of the tracks' error (real − ideal) moves the solve: along or across the axis, per-track trend or the rest.</summary>
    private static void Decompose(SimulatedSeries series, Xf[] prexg, IReadOnlyList<LandmarkObservation> real, List<LandmarkObservation> ideal,
        int n, IReadOnlyList<double> tilts, double axis, SolveOptions o)
    {
        int nz = series.Raw.Nz;
        var idealBy = ideal.ToDictionary(q => (q.Landmark, q.View));
        double a = axis * Math.PI / 180, ux = -Math.Sin(a), uy = Math.Cos(a);   // along the axis (axis angle from +Y, counter-clockwise)
        double Solve(IReadOnlyList<LandmarkObservation> obs)
        {
            var s = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(obs, n, n, tilts, axis), o);
            var fin = Enumerable.Range(0, nz).Select(i => Xf.Product(prexg[i], s.Views[i].RawToAligned())).ToArray();
            return AlignmentCheck.FieldErrorAfterGauge(series, fin);
        }
        var pairs = real.Where(r => idealBy.ContainsKey((r.Landmark, r.View))).Select(r => (R: r, I: idealBy[(r.Landmark, r.View)])).ToList();
        // Per-track linear trend (in view index) of the error, both components.
        var trend = new Dictionary<(int, int), (double X, double Y)>();
        foreach (var g in pairs.GroupBy(p => p.R.Landmark))
        {
            var l = g.ToList();
            double mv = l.Average(p => p.R.View);
            double sxx = l.Sum(p => (p.R.View - mv) * (p.R.View - mv));
            double mx = l.Average(p => p.R.X - p.I.X), my = l.Average(p => p.R.Y - p.I.Y);
            double bx = sxx > 0 ? l.Sum(p => (p.R.View - mv) * (p.R.X - p.I.X - mx)) / sxx : 0;
            double by = sxx > 0 ? l.Sum(p => (p.R.View - mv) * (p.R.Y - p.I.Y - my)) / sxx : 0;
            foreach (var p in l) trend[(p.R.Landmark, p.R.View)] = (mx + bx * (p.R.View - mv), my + by * (p.R.View - mv));
        }
        LandmarkObservation With(LandmarkObservation i, double ex, double ey) => i with { X = i.X + ex, Y = i.Y + ey };
        var variants = new (string, Func<LandmarkObservation, LandmarkObservation, LandmarkObservation>)[]
        {
            ("real", (r, i) => r),
            ("ideal", (r, i) => i),
            ("ideal + error along axis", (r, i) => { double e = (r.X - i.X) * ux + (r.Y - i.Y) * uy; return With(i, e * ux, e * uy); }),
            ("ideal + error across axis", (r, i) => { double e = (r.X - i.X) * uy - (r.Y - i.Y) * ux; return With(i, e * uy, -e * ux); }),
            ("ideal + per-track linear trend", (r, i) => { var t = trend[(r.Landmark, r.View)]; return With(i, t.X, t.Y); }),
            ("ideal + error − trend", (r, i) => { var t = trend[(r.Landmark, r.View)]; return With(i, r.X - i.X - t.X, r.Y - i.Y - t.Y); }),
        };
        foreach (var (name, f) in variants)
            Console.WriteLine($"    decomposition, {name}: error {Solve(pairs.Select(p => f(p.R, p.I)).ToList()):F3}");
        // Errors of each view, common to all tracks (mean over the view's observations) along and across the axis.
        var perView = pairs.GroupBy(p => p.R.View).OrderBy(g => g.Key).Select(g =>
            $"{g.Average(p => (p.R.X - p.I.X) * ux + (p.R.Y - p.I.Y) * uy):F2}/{g.Average(p => (p.R.X - p.I.X) * uy - (p.R.Y - p.I.Y) * ux):F2}");
        Console.WriteLine("    mean error per view (along/across): " + string.Join(" ", perView));
    }

    /// <summary>How well each tracked landmark fits the projections of one fixed 3-D point through the true geometry.</summary>
    private static List<LandmarkObservation> TrackTruth(SimulatedSeries series, Xf[] prexg, IReadOnlyList<LandmarkObservation> obs, int n, double walk = 0, double white = 0)
    {
        int nz = series.Raw.Nz;
        var maps = new (double[] M, double Tx, double Ty)[nz];
        (double, double)[] basis = new (double, double)[4];
        for (int v = 0; v < nz; v++)
        {
            var pts = new List<(double, double, double)> { (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1) };
            var raw = series.TrueProjections(v, false, pts);
            var q = raw.Select(r => prexg[v].Apply(r.X, r.Y, n / 2.0, n / 2.0)).ToArray();
            maps[v] = (new[] { q[1].X - q[0].X, q[2].X - q[0].X, q[3].X - q[0].X, q[1].Y - q[0].Y, q[2].Y - q[0].Y, q[3].Y - q[0].Y }, q[0].X, q[0].Y);
        }
        var sq = new List<double>();
        var ideal = new List<LandmarkObservation>();
        var rng = new Random(7);
        double G() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var byDist = new Dictionary<int, List<double>>();
        double sumLen = 0; int tracks = 0;
        foreach (var g in obs.GroupBy(o => o.Landmark))
        {
            var list = g.ToList();
            if (list.Count < 4) continue;
            var A = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(2 * list.Count, 3);
            var b = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(2 * list.Count);
            for (int i = 0; i < list.Count; i++)
            {
                var m = maps[list[i].View];
                for (int j = 0; j < 3; j++) { A[2 * i, j] = m.M[j]; A[2 * i + 1, j] = m.M[3 + j]; }
                b[2 * i] = list[i].X - m.Tx; b[2 * i + 1] = list[i].Y - m.Ty;
            }
            var X = A.Solve(b);
            var r = A * X - b;
            double wx = 0, wy = 0;
            foreach (var o in list.OrderBy(o => Math.Abs(o.View - series.ReferenceView)))
            {
                var m = maps[o.View];
                wx += walk * G(); wy += walk * G();
                ideal.Add(new LandmarkObservation(o.Landmark, o.View,
                    m.M[0] * X[0] + m.M[1] * X[1] + m.M[2] * X[2] + m.Tx + wx + white * G(),
                    m.M[3] * X[0] + m.M[4] * X[1] + m.M[5] * X[2] + m.Ty + wy + white * G()));
            }
            int mid = list[list.Count / 2].View;
            for (int i = 0; i < list.Count; i++)
            {
                double e = Math.Sqrt(r[2 * i] * r[2 * i] + r[2 * i + 1] * r[2 * i + 1]);
                sq.Add(e * e);
                int d = Math.Abs(list[i].View - series.ReferenceView) / 5;
                if (!byDist.TryGetValue(d, out var l)) byDist[d] = l = new List<double>();
                l.Add(e * e);
            }
            sumLen += list.Count; tracks++;
        }
        // Per view: the rotation and scale (about the centre) that best map the ideal positions onto the tracked ones.
        var realByKey = obs.ToDictionary(o => (o.Landmark, o.View));
        var rotLine = new List<string>(); var magLine = new List<string>(); var jitLine = new List<string>(); var magJit = new List<string>();
        for (int v = 0; v < nz; v++)
        {
            double num = 0, den = 0, nums = 0;
            foreach (var o in ideal.Where(o => o.View == v))
            {
                if (!realByKey.TryGetValue((o.Landmark, o.View), out var real)) continue;
                double rx = o.X - n / 2.0, ry = o.Y - n / 2.0, dx = real.X - o.X, dy = real.Y - o.Y;
                num += rx * dy - ry * dx; nums += rx * dx + ry * dy; den += rx * rx + ry * ry;
            }
            rotLine.Add((den > 0 ? num / den * 180 / Math.PI : 0).ToString("F3"));
            magLine.Add((den > 0 ? 100 * nums / den : 0).ToString("F3"));
            int toward = v < series.ReferenceView ? v + 1 : v > series.ReferenceView ? v - 1 : v;
            jitLine.Add((series.TrueGeometry[v].AxisAngleDegrees - series.TrueGeometry[toward].AxisAngleDegrees).ToString("F2"));
            magJit.Add((100 * (series.TrueGeometry[v].Magnification / series.TrueGeometry[toward].Magnification - 1)).ToString("F2"));
        }
        if (Environment.GetEnvironmentVariable("EXP_VERBOSE") == "1")
        {
            Console.WriteLine("  track rotation bias per view (°): " + string.Join(" ", rotLine));
            Console.WriteLine("  true rotation step toward ref (°): " + string.Join(" ", jitLine));
            Console.WriteLine("  track scale bias per view (%): " + string.Join(" ", magLine));
            Console.WriteLine("  true mag step toward ref (%): " + string.Join(" ", magJit));
        }
        Console.WriteLine($"  tracks vs truth: RMS {Math.Sqrt(sq.Average()):F3} px over {sq.Count} obs, {tracks} tracks, mean length {sumLen / tracks:F1}; by |view − ref|/5: " +
            string.Join(" ", byDist.OrderBy(k => k.Key).Select(k => $"{k.Key}:{Math.Sqrt(k.Value.Average()):F2}")));
        return ideal;
    }

    /// <summary>Projection matching over a global in-plane rotation δ added to every view: score and true error per δ.</summary>
    private static void AxisScan(SimulatedSeries series, Xf[] fin, double[] tilts, int n, CpuBackend cpu, int bin)
    {
        int nz = series.Raw.Nz, m = n / bin;
        int thickness = (int)Math.Ceiling(series.Options.ThicknessPixels * 1.5 / bin);
        var fill = series.Raw.ViewMeans();
        string dir = Path.Combine(Path.GetTempPath(), "axis-scan-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var cos = tilts.Select(t => (float)Math.Cos(t * Math.PI / 180)).ToArray();
        var sin = tilts.Select(t => (float)Math.Sin(t * Math.PI / 180)).ToArray();
        foreach (double delta in new[] { -0.3, -0.2, -0.15, -0.1, -0.05, 0, 0.05, 0.1, 0.15, 0.2, 0.3 })
        {
            var xfs = fin.Select(x => Xf.Product(x, Xf.RotationScale(delta, 1))).ToArray();
            var ali = new ImageStack(m, m, nz);
            cpu.Warper.Warp(series.Raw.Data, n, n, nz, xfs, fill, new WarpOptions(bin, Interpolation.Linear), ali.Data);
            string aliPath = Path.Combine(dir, "a.ali"), recPath = Path.Combine(dir, "a.rec");
            Tomalign.Core.Formats.MrcWriter.WriteStack(aliPath, ali);
            new Tomalign.Core.Reconstruction.Reconstructor(cpu).Run(aliPath, tilts, recPath,
                new Tomalign.Core.Reconstruction.ReconstructionOptions { Thickness = thickness, Log = true });
            var slab = new float[(long)m * thickness * m];
            using (var r = Tomalign.Core.Formats.MrcReader.Open(recPath))
            {
                var sec = new float[m * m];
                for (int z = 0; z < thickness; z++)
                {
                    r.ReadSection(z, sec);
                    for (int row = 0; row < m; row++) sec.AsSpan(row * m, m).CopyTo(slab.AsSpan((row * thickness + z) * m, m));
                }
            }
            var proj = new float[(long)nz * m * m];
            cpu.Backprojector.Project(slab, cos, sin, new SlabGeometry(m, m, nz, thickness, 0), proj);
            double score = 0;
            int lo = m / 8, hi = m - m / 8;
            for (int i = 0; i < nz; i++)
            {
                double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0; int cnt = 0;
                for (int y = lo; y < hi; y++)
                    for (int x = lo; x < hi; x++)
                    {
                        double a = proj[((long)i * m + y) * m + x], b = -Math.Log(Math.Max(1e-6, ali.Data[((long)i * m + y) * m + x]));
                        sa += a; sb += b; saa += a * a; sbb += b * b; sab += a * b; cnt++;
                    }
                double cov = sab / cnt - sa / cnt * sb / cnt, va = saa / cnt - sa * sa / cnt / cnt, vb = sbb / cnt - sb * sb / cnt / cnt;
                score += cov / Math.Sqrt(va * vb);
            }
            Console.WriteLine($"    axis δ {delta,5:F2}°: score {score / nz:F5}, error {AlignmentCheck.FieldErrorAfterGauge(series, xfs):F3}");
        }
        Directory.Delete(dir, true);
    }
}
