using MathNet.Numerics.LinearAlgebra;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Solve;

/// <summary>
/// Bundle adjustment of a tilt series (tiltalign's job): per-view rotation, tilt, magnification
/// and shift, and the 3-D landmark positions, by Levenberg–Marquardt on the reprojection error.
/// Each iteration eliminates every landmark's 3×3 block (Schur complement), solves the dense
/// reduced view system by Cholesky and back-substitutes the landmarks.
/// <para>Gauge: the reference view's tilt and magnification are fixed (by the variable map), the
/// landmark centroid is the origin (re-centred exactly after each step, shifts compensated), and
/// the translation null space is pinned in the reduced system so that it stays definite.</para>
/// </summary>
public sealed class BundleSolver
{
    private readonly SolverEquations _ne;
    private readonly ILogger _log;

    /// <summary>Doubles of solver state per view (<see cref="DistortionModel"/>: the backends' six, X-stretch and skew).</summary>
    private const int S = DistortionModel.StateSize;

    /// <summary>The state index of view parameter p (α, θ, m, dx, dy, then stretch and skew after the fixed x-axis tilt).</summary>
    private static int StateIndex(int p) => p < BundleLayout.ViewParameters ? p : p + 1;

    public BundleSolver(IBundleNormalEquations normalEquations, ILogger? logger = null)
    {
        _ne = new SolverEquations(normalEquations);
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>Landmark parts of the Schur-complement sum (a fixed number, so that the sum's order never depends on the machine).</summary>
    private const int SchurParts = 16;

    public SolveResult Solve(SolveInput input, SolveOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        var notes = new List<string>();
        var dropped = new List<int>();
        var resolved = options.ResolveAutomatic(input);
        // Automatic tilt or magnification resolved to groups (few landmarks per view): per-view variables stay a candidate,
        // taken when the landmarks ask for them (ChooseVariables).
        SolveOptions? perView = null;
        if (!ReferenceEquals(resolved, options))
        {
            notes.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"automatic variables: {SolveOptions.LandmarksPerView(input):F0} landmarks per view, so rotation {resolved.Rotation}, tilt {resolved.Tilt}, magnification {resolved.Magnification}"));
            var alternative = resolved with
            {
                Tilt = options.Tilt.Mode == VariableMode.Auto ? VariableOption.PerView : resolved.Tilt,
                Magnification = options.Magnification.Mode == VariableMode.Auto ? VariableOption.PerView : resolved.Magnification,
            };
            if (alternative.Tilt != resolved.Tilt || alternative.Magnification != resolved.Magnification) perView = alternative;
            options = resolved;
        }
        SolveResult result;
        if (options.XStretch.Mode == VariableMode.Auto || options.Skew.Mode == VariableMode.Auto)
            (result, options) = SolveWithAutomaticDistortion(input, options, notes, dropped);
        else
            result = SolveOnce(input, options, notes, dropped, perView);
        if (options.DropWorstLandmarks > 0)
        {
            var worst = result.Landmarks.Where(l => l.Flagged).OrderByDescending(l => l.Residual.Mean)
                .Take(options.DropWorstLandmarks).Select(l => l.Id).ToHashSet();
            if (worst.Count > 0)
            {
                notes.Add($"dropped {worst.Count} landmark(s) beyond {options.OutlierSds} SDs and solved again: {string.Join(", ", worst.Order())}");
                _log.LogInformation("Dropping {Count} worst landmark(s) and solving again", worst.Count);
                dropped.AddRange(worst);
                var kept = input.Observations.Where(o => !worst.Contains(o.Landmark)).ToList();
                result = SolveOnce(input with { Observations = kept }, result.Options ?? options, notes, dropped);
            }
        }
        if (options.Level && SpecimenLevel.Fit(result.Landmarks) is { Landmarks: >= 3 } level)
        {
            string note = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"levelled: tilt angles offset by {level.AngleOffsetDegrees:F2}° so that the plane of {level.Landmarks} landmarks is flat about Y; an x-axis tilt of {level.XAxisTiltDegrees:F2}° would level it about X");
            _log.LogInformation("Levelled the specimen: tilt-angle offset {Offset:F2}° (x-axis tilt {XTilt:F2}° not applied)", level.AngleOffsetDegrees, level.XAxisTiltDegrees);
            var moved = SpecimenLevel.WithTiltOffset(result, level.AngleOffsetDegrees);
            result = moved.With(moved.Views, moved.Landmarks, [.. result.Notes, note]);
        }
        return result;
    }

    /// <summary>Automatic X-stretch and skew (<see cref="DistortionChoice"/>): coverage, then both solves and the F test.</summary>
    private (SolveResult, SolveOptions) SolveWithAutomaticDistortion(SolveInput input, SolveOptions options, List<string> notes, List<int> dropped)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        var off = options with
        {
            XStretch = options.XStretch.Mode == VariableMode.Auto ? VariableOption.Fixed : options.XStretch,
            Skew = options.Skew.Mode == VariableMode.Auto ? VariableOption.Fixed : options.Skew,
        };
        var on = options with
        {
            XStretch = options.XStretch.Mode == VariableMode.Auto ? SolveOptions.PresetXStretch : options.XStretch,
            Skew = options.Skew.Mode == VariableMode.Auto ? SolveOptions.PresetSkew : options.Skew,
        };
        var (covered, why) = DistortionChoice.Coverage(input, options.MinViewsPerLandmark);
        if (!covered)
        {
            string note = $"automatic distortion: off — {why}";
            notes.Add(note);
            _log.LogInformation("{Note}", note);
            return (SolveOnce(input, off, notes, dropped), off);
        }
        var notesOff = new List<string>(notes); var droppedOff = new List<int>(dropped);
        var notesOn = new List<string>(notes); var droppedOn = new List<int>(dropped);
        var without = SolveOnce(input, off, notesOff, droppedOff);
        var with = SolveOnce(input, on, notesOn, droppedOn);
        var (f, critical, significant) = DistortionChoice.Test(without, with);
        string choice = string.Create(ci,
            $"automatic distortion: {(significant ? "on" : "off")} — {why}; X-stretch {on.XStretch}, skew {on.Skew}: residual mean {with.Overall.Mean:F3} px against {without.Overall.Mean:F3} px without, " +
            $"F = {f:F2} for {with.ViewVariables - without.ViewVariables} extra variables ({(significant ? "above" : "not above")} {critical:F2}, the {1 - DistortionChoice.SignificanceLevel:P0} quantile)");
        _log.LogInformation("{Choice}", choice);
        var (keep, keptNotes, keptDropped, keptOptions) = significant ? (with, notesOn, droppedOn, on) : (without, notesOff, droppedOff, off);
        notes.Clear(); notes.AddRange(keptNotes); notes.Add(choice);
        dropped.Clear(); dropped.AddRange(keptDropped);
        return (keep.With(keep.Views, keep.Landmarks, notes.ToList()), keptOptions);
    }

    private SolveResult SolveOnce(SolveInput input, SolveOptions options, List<string> notes, List<int> dropped, SolveOptions? perView = null)
    {
        int nv = input.ViewCount;
        if (nv < 2) throw new TomalignInputException(null, $"{nv} tilt angle(s) given", "give one tilt angle per view of the stack");
        if (input.Width <= 0 || input.Height <= 0) throw new TomalignInputException(null, $"image size {input.Width}×{input.Height}", "give the stack size as NX,NY");

        // Landmarks: dense indexes, those seen in too few views dropped.
        var byId = new SortedDictionary<int, List<LandmarkObservation>>();
        foreach (var o in input.Observations)
        {
            if ((uint)o.View >= (uint)nv)
                throw new TomalignInputException(null, $"landmark {o.Landmark} has a point in view {o.View}, but there are {nv} tilt angles", "check that the model and the angle file belong to the same stack");
            if (!double.IsFinite(o.X) || !double.IsFinite(o.Y))
                throw new TomalignInputException(null, $"landmark {o.Landmark} has a non-finite position in view {o.View}", "remove or fix the point");
            if (!byId.TryGetValue(o.Landmark, out var list)) byId[o.Landmark] = list = [];
            list.Add(o);
        }
        var ids = new List<int>();
        var obsView = new List<int>(); var obsLm = new List<int>(); var obsX = new List<double>(); var obsY = new List<double>();
        foreach (var (id, list) in byId)
        {
            int views = list.Select(o => o.View).Distinct().Count();
            if (views < options.MinViewsPerLandmark)
            {
                notes.Add($"landmark {id} seen in {views} view(s) (< {options.MinViewsPerLandmark}): dropped");
                dropped.Add(id);
                continue;
            }
            int j = ids.Count; ids.Add(id);
            foreach (var o in list) { obsView.Add(o.View); obsLm.Add(j); obsX.Add(o.X - input.CenterX); obsY.Add(o.Y - input.CenterY); }
        }
        if (ids.Count < 3)
            throw new TomalignInputException(null, $"only {ids.Count} landmark(s) are seen in at least {options.MinViewsPerLandmark} views", "track more landmarks, or lower the minimum number of views");
        var problem = new BundleProblem(nv, ids.Count, obsView.ToArray(), obsLm.ToArray(), obsX.ToArray(), obsY.ToArray());
        var observed = new bool[nv];
        var viewObservations = new int[nv];
        foreach (int v in problem.View) { observed[v] = true; viewObservations[v]++; }
        for (int i = 0; i < nv; i++) if (!observed[i]) notes.Add($"view {i} has no observations: its parameters stay at their start values");

        int reference = options.ReferenceView ?? Enumerable.Range(0, nv).Where(i => observed[i]).MinBy(i => Math.Abs(input.TiltDegrees[i]));
        if ((uint)reference >= (uint)nv || !observed[reference])
            throw new TomalignInputException(null, $"reference view {reference} is outside the stack or has no observations", "choose a view with landmarks");

        // Start: nominal tilts, the given axis angle, unit magnification; landmarks from their
        // least-tilted view; shifts from the mean misfit per view; centroid at the origin.
        var state = new double[S * nv];
        double phi = options.XAxisTiltDegrees * Math.PI / 180;
        for (int i = 0; i < nv; i++)
        {
            int o = S * i;
            state[o] = input.AxisAngleDegrees * Math.PI / 180;
            state[o + 1] = input.TiltDegrees[i] * Math.PI / 180;
            state[o + 2] = 1;
            state[o + 5] = phi;
        }
        var lm = InitialLandmarks(problem, state);
        var weights = Enumerable.Repeat(1.0, problem.ObservationCount).ToArray();
        var residual = new double[2 * problem.ObservationCount];
        _ne.Residuals(problem, state, lm, weights, residual);
        for (int i = 0; i < nv; i++)
        {
            int c = problem.ByViewStart[i + 1] - problem.ByViewStart[i];
            if (c == 0) continue;
            double sx = 0, sy = 0;
            for (int t = problem.ByViewStart[i]; t < problem.ByViewStart[i + 1]; t++) { int k = problem.ByViewObservation[t]; sx += residual[2 * k]; sy += residual[2 * k + 1]; }
            state[S * i + 3] -= sx / c;
            state[S * i + 4] -= sy / c;
        }
        Recentre(state, lm, nv);

        int iterations = 0;
        if (options.TwoStage)
        {
            var map1 = VariableMap.Build(nv, viewObservations, options.Rotation, VariableOption.Fixed, VariableOption.Fixed, reference, null);
            (_, int it) = Minimise(problem, state, lm, weights, map1, options, "stage 1 (magnification 1, nominal tilts)");
            iterations += it;
        }
        var map = VariableMap.Build(nv, viewObservations, options.Rotation, options.Tilt, options.Magnification, reference, notes, options.XStretch, options.Skew, input.TiltDegrees);
        // The chooser's plain fit of the variables it keeps: the same solve as the plain or free-tilt fit below, not repeated.
        Fit? plain = null;
        if (perView is not null)
        {
            var perViewMap = VariableMap.Build(nv, viewObservations, perView.Rotation, perView.Tilt, perView.Magnification, reference, null, perView.XStretch, perView.Skew, input.TiltDegrees);
            if (ChooseVariables(problem, state, lm, map, perViewMap, options, perView, ids.Count, notes, out plain))
            {
                options = perView;
                map = VariableMap.Build(nv, viewObservations, options.Rotation, options.Tilt, options.Magnification, reference, notes, options.XStretch, options.Skew, input.TiltDegrees);
            }
        }
        var nominal = Enumerable.Range(0, nv).Select(i => input.TiltDegrees[i] * Math.PI / 180).ToArray();
        bool tiltsFree = Enumerable.Range(0, nv).Any(i => map.Entries[map.Parameters * i + BundleLayout.Tilt].Length > 0);
        Fit fit;
        TiltChoice? tiltChoice = null;
        if (!tiltsFree || options.TiltPrior.Mode == TiltPriorMode.Off)
            fit = plain ?? FitFrom(problem, state, lm, map, null, options, "full");
        else
            (fit, tiltChoice) = ChooseTilts(problem, state, lm, map, nv, observed, viewObservations, reference, nominal, options, notes, plain);
        AxisChoice? axisChoice = null;
        bool rotationsFree = Enumerable.Range(0, nv).Any(i => fit.Map.Entries[fit.Map.Parameters * i + BundleLayout.Rotation].Length > 0);
        if (rotationsFree && options.AxisHold != AxisHoldMode.Free)
        {
            (fit, axisChoice) = ChooseAxis(problem, state, lm, fit, tiltChoice, nominal, input.AxisAngleDegrees, options, notes);
        }
        iterations += fit.Iterations;
        var solved = Report(input, options, problem, ids, fit.State, fit.Lm, fit.Weights, fit.Map, reference, fit.Stop, iterations, fit.Rounds, notes, dropped, tiltChoice);
        return axisChoice is null ? solved : solved.With(solved.Views, solved.Landmarks, solved.Notes, axisChoice);
    }

    /// <summary>
    /// The tilt axis held at the given one or left to the data (<see cref="SolveOptions.AxisHold"/>). Patch landmarks lie near
    /// one plane; for them the axis shows only through the foreshortening across it (x·(cos θ − mean cos θ)) and the landmarks'
    /// small spread in height, and the tracks' correlated errors in a thick specimen move it by tenths of a degree while every
    /// part of the field agrees (a jackknife over blocks of tracks gives 0.03–0.04° for axes 0.13–0.35° off; docs/ZOO.md).
    /// Automatic: the solve with the axis held (each view's rotation about it free, tilts tied as <paramref name="tiltChoice"/>
    /// tied them) is kept unless it leaves at least <see cref="AxisClearlyBetterVarianceRatio"/>× the residual variance of the
    /// free solve over the observations both trust.
    /// </summary>
    private (Fit, AxisChoice) ChooseAxis(BundleProblem problem, double[] state, double[] lm, Fit free, TiltChoice? tiltChoice, double[] nominal,
        double givenDegrees, SolveOptions options, List<string> notes)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        int np = free.Map.Parameters, nv = problem.ViewCount;
        var views = Enumerable.Range(0, nv).Where(i => free.Map.Entries[np * i + BundleLayout.Rotation].Length > 0).ToArray();
        double freeRms0 = WeightedRms(problem, free, free.Weights);
        double sd = AxisHoldSdDegrees * Math.PI / 180;
        var term = new TiltPriorTerm(nominal, tiltChoice is { Chosen: "prior", PriorWeight: { } w } ? w : 0)
        {
            AxisTarget = givenDegrees * Math.PI / 180, AxisWeight = Math.Max(freeRms0 * freeRms0, 1e-6) / (sd * sd), AxisViews = views,
        };
        var held = FitFrom(problem, state, lm, free.Map, term, options, "full, tilt axis held");
        var common = free.Weights.Zip(held.Weights, Math.Min).ToArray();
        double freeRms = WeightedRms(problem, free, common), heldRms = WeightedRms(problem, held, common);
        double freeAxis = views.Average(i => free.State[S * i + BundleLayout.Rotation]) * 180 / Math.PI;
        double ratio = freeRms > 0 ? heldRms * heldRms / (freeRms * freeRms) : double.PositiveInfinity;
        bool keepFree = options.AxisHold == AxisHoldMode.Auto && ratio >= AxisClearlyBetterVarianceRatio;
        string numbers = string.Create(ci, $"solved axis {freeAxis:F2}° against {givenDegrees:F2}° given, residual {freeRms:F3} px free against {heldRms:F3} px held (variance ratio {ratio:F3})");
        string why = options.AxisHold == AxisHoldMode.Held
            ? $"tilt axis held at the given one as asked: {numbers}"
            : keepFree
                ? string.Create(ci, $"tilt axis free: {numbers}; the given axis leaves at least {AxisClearlyBetterVarianceRatio:F2}× the residual variance")
                : string.Create(ci, $"tilt axis held at the given one: {numbers}, not clearly better (less than {AxisClearlyBetterVarianceRatio:F2}× the residual variance); a coplanar landmark set determines the axis weakly");
        notes.Add(why);
        _log.LogInformation("Axis choice: {Why}", why);
        var chosen = keepFree ? free : held;
        return (chosen, new AxisChoice(keepFree ? "free" : "held", why, givenDegrees, freeAxis, freeRms, heldRms));
    }

    /// <summary>SD (degrees) of the hold on the tilt axis: tight enough that the axis stays at the given one to a hundredth of this.</summary>
    internal const double AxisHoldSdDegrees = 1e-4;
    /// <summary>Automatic axis choice: the free axis is kept when the held one leaves at least this many times its residual variance.</summary>
    public const double AxisClearlyBetterVarianceRatio = 1.1;

    /// <summary>
    /// Grouped or per-view tilt and magnification, chosen from the landmarks by Mallows' C_p (the expected prediction
    /// error RSS + 2σ²k, σ² from the larger model): per view when the drop of the residual sum outweighs twice the noise
    /// variance per added variable. Groups cannot follow a goniometer's or a lens's per-view errors (0.2° of tilt at 60°
    /// moves a point 200 px from the axis by 0.6 px), and per-view variables fit noise where the landmarks are few; the
    /// criterion weighs the two on the data instead of a fixed landmark count. Both fits are plain (no tilt prior);
    /// their residuals are compared over the observations both robust fits trust. True: per view; <paramref name="chosen"/>
    /// is the plain fit of the variables chosen.
    /// </summary>
    private bool ChooseVariables(BundleProblem problem, double[] state, double[] lm, VariableMap grouped, VariableMap perView,
        SolveOptions groupedOptions, SolveOptions perViewOptions, int landmarks, List<string> notes, out Fit chosen)
    {
        var g = FitFrom(problem, state, lm, grouped, null, groupedOptions, "variables: grouped");
        var p = FitFrom(problem, state, lm, perView, null, perViewOptions, "variables: per view");
        var common = g.Weights.Zip(p.Weights, Math.Min).ToArray();
        var residual = new double[2 * problem.ObservationCount];
        double rssG = _ne.Residuals(problem, g.State, g.Lm, common, residual);
        double rssP = _ne.Residuals(problem, p.State, p.Lm, common, residual);
        double equations = 2 * common.Sum();
        int kP = perView.Count + 3 * landmarks, dk = perView.Count - grouped.Count;
        chosen = g;
        if (dk <= 0 || equations <= kP) return false;
        double sigma2 = rssP / (equations - kP);
        bool choose = rssG - rssP > 2 * sigma2 * dk;
        string note = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"variables: {(choose ? "per view" : "grouped")} tilt and magnification (C_p: the residual sum {rssG:G4} px² grouped, {rssP:G4} px² per view; " +
            $"{dk} more variables are worth {2 * sigma2 * dk:G4} px² at σ² {sigma2:G3} px²)");
        notes.Add(note);
        _log.LogInformation("{Note}", note);
        if (choose) chosen = p;
        return choose;
    }

    /// <summary>A Gaussian prior on each view's tilt about its nominal angle: cost += Weight · Σ (θ_i − nominal_i)² (radians, px² per rad²).</summary>
    internal sealed record TiltPriorTerm(double[] Nominal, double Weight)
    {
        /// <summary>
        /// A hold of the mean in-plane rotation (the tilt axis) of <see cref="AxisViews"/> at <see cref="AxisTarget"/> (radians):
        /// cost += AxisWeight · (mean α − target)²; per-view deviations about the mean stay free. Weight 0: none.
        /// </summary>
        public double AxisTarget { get; init; }
        public double AxisWeight { get; init; }
        public int[] AxisViews { get; init; } = [];

        public double AxisMean(double[] state) => AxisViews.Length == 0 ? 0 : AxisViews.Average(i => state[S * i + BundleLayout.Rotation]);

        public double Cost(double[] state)
        {
            double c = 0;
            if (Weight > 0)
                for (int i = 0; i < Nominal.Length; i++) c += Sq(state[S * i + BundleLayout.Tilt] - Nominal[i]);
            double a = AxisWeight > 0 && AxisViews.Length > 0 ? AxisWeight * Sq(AxisMean(state) - AxisTarget) : 0;
            return Weight * c + a;
        }
    }

    /// <summary>One full solve (all variables of <see cref="Map"/>, robust rounds) from a start state.</summary>
    private sealed record Fit(double[] State, double[] Lm, double[] Weights, VariableMap Map, SolveStopReason Stop, int Iterations, int Rounds,
        double DataCost, double WeightSum);

    /// <summary>The full solve and its robust rounds from copies of <paramref name="state0"/> and <paramref name="lm0"/>.</summary>
    private Fit FitFrom(BundleProblem problem, double[] state0, double[] lm0, VariableMap map, TiltPriorTerm? prior, SolveOptions options, string stage)
    {
        var state = (double[])state0.Clone();
        var lm = (double[])lm0.Clone();
        var weights = Enumerable.Repeat(1.0, problem.ObservationCount).ToArray();
        var residual = new double[2 * problem.ObservationCount];
        var (stop, iterations) = Minimise(problem, state, lm, weights, map, options, stage, prior);
        int rounds = 0;
        if (options.Robust)
        {
            for (rounds = 1; rounds <= options.MaxRobustRounds; rounds++)
            {
                _ne.Residuals(problem, state, lm, weights, residual);
                var w = options.WeightWholeTracks
                    ? TrackTukeyWeights(residual, problem.Landmark, problem.LandmarkCount, options.TukeyK)
                    : TukeyWeights(residual, problem.ObservationCount, options.TukeyK);
                if (w is null) break;
                double change = 0;
                for (int k = 0; k < w.Length; k++) change = Math.Max(change, Math.Abs(w[k] - weights[k]));
                Array.Copy(w, weights, w.Length);
                (stop, int it) = Minimise(problem, state, lm, weights, map, options, $"{stage}, robust round {rounds}", prior);
                iterations += it;
                if (change < 0.01) break;
            }
            rounds = Math.Min(rounds, options.MaxRobustRounds);
        }
        double cost = _ne.Residuals(problem, state, lm, weights, residual);
        return new Fit(state, lm, weights, map, stop, iterations, rounds, cost, weights.Sum());
    }

    /// <summary>Per-axis RMS residual (px) of a fit's state with the given weights.</summary>
    private double WeightedRms(BundleProblem problem, Fit fit, double[] weights)
    {
        var residual = new double[2 * problem.ObservationCount];
        double cost = _ne.Residuals(problem, fit.State, fit.Lm, weights, residual);
        return Math.Sqrt(cost / Math.Max(2 * weights.Sum(), 1e-300));
    }

    /// <summary>RMS and largest |solved − nominal| of the tilts (degrees) after removing their mean, over the observed views.</summary>
    private static (double Rms, double Max) TiltDeviation(double[] state, double[] nominal, bool[] observed)
    {
        var d = Enumerable.Range(0, nominal.Length).Where(i => observed[i])
            .Select(i => (state[S * i + BundleLayout.Tilt] - nominal[i]) * 180 / Math.PI).ToArray();
        if (d.Length == 0) return (0, 0);
        double mean = d.Average();
        return (Math.Sqrt(d.Average(x => (x - mean) * (x - mean))), d.Max(x => Math.Abs(x - mean)));
    }

    private (Fit, TiltChoice) ChooseTilts(BundleProblem problem, double[] state, double[] lm, VariableMap map, int nv, bool[] observed, int[] viewObservations,
        int reference, double[] nominal, SolveOptions options, List<string> notes, Fit? freeKnown = null)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        var fixedMap = VariableMap.Build(nv, viewObservations, options.Rotation, VariableOption.Fixed, options.Magnification, reference, null, options.XStretch, options.Skew, nominal.Select(t => t * 180 / Math.PI).ToArray());
        var fixedFit = FitFrom(problem, state, lm, fixedMap, null, options, "full, tilts fixed");
        double fixedRms = WeightedRms(problem, fixedFit, fixedFit.Weights);
        double sigma2 = fixedRms * fixedRms;
        if (options.TiltPrior.Mode == TiltPriorMode.Given)
        {
            double sd = options.TiltPrior.SdDegrees * Math.PI / 180;
            var prior = new TiltPriorTerm(nominal, sigma2 / (sd * sd));
            var fit = FitFrom(problem, state, lm, map, prior, options, "full, tilt prior");
            var dev = TiltDeviation(fit.State, nominal, observed);
            string reason = string.Create(ci, $"tilt prior of SD {options.TiltPrior.SdDegrees:G4}° about the nominal tilts (weight {prior.Weight:G4} px²/rad² = σ² {sigma2:G4} px² of the fixed-tilt solve / SD²)");
            notes.Add(reason + string.Create(ci, $"; tilts moved {dev.Rms:F2}° RMS (at most {dev.Max:F2}°) from nominal after a common offset"));
            return (fit, new TiltChoice("prior", reason, fixedRms, WeightedRms(problem, fit, fixedFit.Weights), dev.Rms, dev.Max, dev.Rms,
                options.TiltPrior.SdDegrees, prior.Weight));
        }
        var freeFit = freeKnown ?? FitFrom(problem, state, lm, map, null, options, "full, tilts free");
        // Both residuals over the same observations with the same weights: those both robust fits trust (the smaller weight).
        var common = fixedFit.Weights.Zip(freeFit.Weights, Math.Min).ToArray();
        fixedRms = WeightedRms(problem, fixedFit, common);
        double freeRms = WeightedRms(problem, freeFit, common);
        var free = TiltDeviation(freeFit.State, nominal, observed);
        string numbers = string.Create(ci, $"free tilts {free.Rms:F2}° RMS (max {free.Max:F2}°) from nominal after a common offset, residual {freeRms:F3} px against {fixedRms:F3} px with nominal tilts");
        bool withinBound = free.Rms <= TiltBoundRmsDegrees && free.Max <= TiltBoundMaxDegrees;
        bool clearlyBetter = fixedRms * fixedRms >= ClearlyBetterVarianceRatio * freeRms * freeRms;
        if (clearlyBetter)
        {
            string why = string.Create(ci, $"tilts free: {numbers}; the nominal tilts leave at least {ClearlyBetterVarianceRatio:F0}× the residual variance") +
                (withinBound ? "" : string.Create(ci, $"; beyond the bound of {TiltBoundRmsDegrees:F1}° RMS or {TiltBoundMaxDegrees:F1}° max from nominal: check the tilt angles"));
            notes.Add(why);
            _log.LogInformation("Tilt choice: {Why}", why);
            return (freeFit, new TiltChoice("free", why, fixedRms, freeRms, free.Rms, free.Max, free.Rms, null, null));
        }
        // Free tilts fit the data only a little better (for a thin layer of patch landmarks tilt trades against the landmarks'
        // x and z, and correlated track errors move it): tie them to the nominal ones, as loosely as keeps them within half
        // the bound, else fix them.
        foreach (double sdDeg in AutoPriorSdDegrees)
        {
            double sd = sdDeg * Math.PI / 180;
            var prior = new TiltPriorTerm(nominal, sigma2 / (sd * sd));
            var fit = FitFrom(problem, state, lm, map, prior, options, string.Create(ci, $"full, tilt prior SD {sdDeg}°"));
            var dev = TiltDeviation(fit.State, nominal, observed);
            if (dev.Rms <= TiltBoundRmsDegrees / 2 && dev.Max <= TiltBoundMaxDegrees / 2)
            {
                string why = string.Create(ci, $"tilts with a prior of SD {sdDeg}° about the nominal ones (weight {prior.Weight:G3} px²/rad²): {numbers}, not clearly better (the nominal tilts leave less than {ClearlyBetterVarianceRatio:F0}× the residual variance); with the prior {dev.Rms:F2}° RMS (max {dev.Max:F2}°) from nominal, residual {WeightedRms(problem, fit, common):F3} px");
                notes.Add(why);
                _log.LogInformation("Tilt choice: {Why}", why);
                return (fit, new TiltChoice("prior", why, fixedRms, freeRms, free.Rms, free.Max, dev.Rms, sdDeg, prior.Weight));
            }
        }
        string fixedWhy = string.Create(ci, $"tilts fixed at the nominal ones: {numbers}, not clearly better; no prior of SD {AutoPriorSdDegrees[^1]}° or more kept them within half the bound ({TiltBoundRmsDegrees / 2:F1}° RMS, {TiltBoundMaxDegrees / 2:F1}° max)");
        notes.Add(fixedWhy);
        _log.LogInformation("Tilt choice: {Why}", fixedWhy);
        return (fixedFit, new TiltChoice("fixed", fixedWhy, fixedRms, freeRms, free.Rms, free.Max, 0, null, null));
    }

    /// <summary>
    /// Automatic tilt choice: the bound (RMS, degrees, after a common offset) on how far tilts may move from the nominal ones
    /// without the data clearly asking for it. A goniometer's per-view error is a few tenths of a degree; 1° RMS is also the
    /// accuracy asked of markerless tilts. A prior is kept only if it holds the tilts within half the bound.
    /// </summary>
    public const double TiltBoundRmsDegrees = 1.0;
    /// <summary>… and within this largest deviation (degrees, after a common offset).</summary>
    public const double TiltBoundMaxDegrees = 3.0;
    /// <summary>
    /// Free tilts are kept only when the nominal tilts leave at least this many times the residual variance
    /// of the free ones (per axis, same robust weights): then a tilt error is the largest error in the data, not the tracks'
    /// correlated errors. Measured on simulated markerless series (384², 90 px slab, seeds 21/23/1), where free tilts moved
    /// 3.2–3.6° RMS from truth, the ratio was 1.26 / 1.30 / 1.20; a 1° tilt error on a 100 px lever arm at 60° moves
    /// a point by 1.5 px, many times a good residual.
    /// </summary>
    public const double ClearlyBetterVarianceRatio = 2.0;
    /// <summary>Prior SDs (degrees) tried in turn when free tilts are rejected: the loosest that keeps the tilts within half the bound.</summary>
    internal static readonly double[] AutoPriorSdDegrees = [0.25, 0.1];


    private static double[] InitialLandmarks(BundleProblem problem, double[] state)
    {
        var lm = new double[3 * problem.LandmarkCount];
        for (int j = 0; j < problem.LandmarkCount; j++)
        {
            int best = -1; double bestTilt = double.MaxValue;
            for (int t = problem.ByLandmarkStart[j]; t < problem.ByLandmarkStart[j + 1]; t++)
            {
                int k = problem.ByLandmarkObservation[t];
                double tilt = Math.Abs(state[S * problem.View[k] + 1]);
                if (tilt < bestTilt) { bestTilt = tilt; best = k; }
            }
            int o = S * problem.View[best];
            double a = state[o], m = state[o + 2];
            double px = (problem.X[best] - state[o + 3]) / m, py = (problem.Y[best] - state[o + 4]) / m;
            double u = Math.Cos(a) * px + Math.Sin(a) * py, v = -Math.Sin(a) * px + Math.Cos(a) * py;
            lm[3 * j] = u / Math.Cos(state[o + 1]);
            lm[3 * j + 1] = v;
            lm[3 * j + 2] = 0;
        }
        return lm;
    }

    /// <summary>Moves the landmark centroid to the origin and compensates every view's shift (projections unchanged).</summary>
    private static void Recentre(double[] state, double[] lm, int nv)
    {
        int nl = lm.Length / 3;
        double tx = 0, ty = 0, tz = 0;
        for (int j = 0; j < nl; j++) { tx += lm[3 * j]; ty += lm[3 * j + 1]; tz += lm[3 * j + 2]; }
        tx /= nl; ty /= nl; tz /= nl;
        for (int j = 0; j < nl; j++) { lm[3 * j] -= tx; lm[3 * j + 1] -= ty; lm[3 * j + 2] -= tz; }
        Span<double> a = stackalloc double[6];
        for (int i = 0; i < nv; i++)
        {
            var v = state.AsSpan(S * i, S);
            DistortionModel.LinearPart(v, a);
            v[3] += a[0] * tx + a[1] * ty + a[2] * tz;
            v[4] += a[3] * tx + a[4] * ty + a[5] * tz;
        }
    }

    private (SolveStopReason, int) Minimise(BundleProblem problem, double[] state, double[] lm, double[] weights,
        VariableMap map, SolveOptions options, string stage, TiltPriorTerm? prior = null)
    {
        int nv = problem.ViewCount, nl = problem.LandmarkCount, np = map.Parameters, nvar = map.Count;
        var blocks = new BundleNormalBlocks(problem, np);
        var residual = new double[2 * problem.ObservationCount];
        var trialState = new double[state.Length];
        var trialLm = new double[lm.Length];
        var c = new double[9 * nl];
        double lambda = 1e-3;
        _ne.Accumulate(problem, state, lm, weights, blocks);
        double cost = blocks.Cost + (prior?.Cost(state) ?? 0);
        double wsum = weights.Sum();
        _log.LogInformation("Solve {Stage}: {Variables} view variables, {Landmarks} landmarks, {Observations} observations, start RMS {Rms:F4} px",
            stage, nvar, nl, problem.ObservationCount, Rms(cost, wsum));
        var stop = SolveStopReason.MaxIterations;
        int iter;
        for (iter = 1; iter <= options.MaxIterations; iter++)
        {
            if (cost <= 1e-24 * Math.Max(1, wsum)) { stop = SolveStopReason.ExactFit; iter--; break; }
            bool accepted = false;
            double newCost = cost;
            while (!accepted)
            {
                var delta = SolveReduced(problem, blocks, state, map, lambda, c, prior);
                if (delta is not null)
                {
                    Array.Copy(state, trialState, state.Length);
                    for (int i = 0; i < nv; i++)
                        for (int p = 0; p < np; p++) trialState[S * i + StateIndex(p)] += delta[np * i + p];
                    BackSubstitute(problem, blocks, delta, c, lm, trialLm);
                    newCost = _ne.Residuals(problem, trialState, trialLm, weights, residual) + (prior?.Cost(trialState) ?? 0);
                    if (double.IsFinite(newCost) && newCost < cost) { accepted = true; break; }
                }
                lambda *= 10;
                if (lambda > 1e16) break;
            }
            if (!accepted)
            {
                stop = SolveStopReason.NoFurtherDecrease;
                _log.LogDebug("{Stage} iteration {Iteration}: no step lowers the cost (λ {Lambda:E1})", stage, iter, lambda);
                break;
            }
            Array.Copy(trialState, state, state.Length);
            Array.Copy(trialLm, lm, lm.Length);
            Recentre(state, lm, nv);
            double relative = (cost - newCost) / Math.Max(newCost, 1e-300);
            _log.LogDebug("{Stage} iteration {Iteration}: RMS {Rms:F5} px, relative change {Change:E2}, λ {Lambda:E1}",
                stage, iter, Rms(newCost, wsum), relative, lambda);
            cost = newCost;
            lambda = Math.Max(lambda / 10, 1e-12);
            if (relative < options.RelativeTolerance) { stop = SolveStopReason.Converged; break; }
            _ne.Accumulate(problem, state, lm, weights, blocks);
            cost = blocks.Cost + (prior?.Cost(state) ?? 0);
        }
        iter = Math.Min(iter, options.MaxIterations);
        _log.LogInformation("Solve {Stage}: {Stop} after {Iterations} iteration(s), RMS {Rms:F4} px", stage, stop, iter, Rms(cost, wsum));
        return (stop, iter);
    }

    private static double Rms(double cost, double wsum) => Math.Sqrt(cost / Math.Max(wsum, 1e-300));

    /// <summary>
    /// Forms the damped Schur complement in the per-view parameters, maps it to the solved
    /// variables, pins the translation null space, solves by Cholesky and returns the per-view
    /// parameter increments (5 per view); null when the system is not positive definite.
    /// Fills <paramref name="c"/> with each landmark's inverted damped 3×3 block.
    /// </summary>
    private static double[]? SolveReduced(BundleProblem problem, BundleNormalBlocks b, double[] state, VariableMap map, double lambda, double[] c,
        TiltPriorTerm? prior = null)
    {
        int nv = problem.ViewCount, nl = problem.LandmarkCount, np = map.Parameters, nr = np * nv, nvar = map.Count;
        var s = new double[nr * nr];
        var g = new double[nr];
        var isActive = new bool[nr];
        for (int r = 0; r < nr; r++) isActive[r] = map.Entries[r].Length > 0;
        // Landmarks in a fixed number of contiguous parts, each summed in order into its own partial S and g, and the
        // parts added in order: the same sums in the same order on any machine and any run (reproducible solves).
        int parts = Math.Min(nl, SchurParts);
        var partials = new (double[] S, double[] G, double[] E)[parts];
        Parallel.For(0, parts, part =>
        {
            (double[] S, double[] G, double[] E) acc = (new double[nr * nr], new double[nr], new double[3 * np * 8]);
            int j0 = (int)((long)nl * part / parts), j1 = (int)((long)nl * (part + 1) / parts);
            for (int j = j0; j < j1; j++) acc = AddLandmark(j, acc);
            partials[part] = acc;
        });
        for (int part = 0; part < parts; part++)
        {
            var (ps, pg, _) = partials[part];
            for (int t = 0; t < s.Length; t++) s[t] += ps[t];
            for (int t = 0; t < nr; t++) g[t] += pg[t];
        }

        (double[] S, double[] G, double[] E) AddLandmark(int j, (double[] S, double[] G, double[] E) local)
            {
                // Damped, inverted landmark block.
                Span<double> h = stackalloc double[9];
                b.LandmarkLandmark.AsSpan(9 * j, 9).CopyTo(h);
                double tr = (h[0] + h[4] + h[8]) / 3;
                for (int d = 0; d < 3; d++) h[4 * d] += lambda * h[4 * d] + 1e-12 * Math.Max(tr, 1e-300);
                var cj = c.AsSpan(9 * j, 9);
                if (!Invert3(h, cj)) { cj.Clear(); return local; }
                int start = problem.ByLandmarkStart[j], count = problem.ByLandmarkStart[j + 1] - start;
                if (local.E.Length < 3 * np * count) local.E = new double[3 * np * count];
                var e = local.E;
                var gl = b.LandmarkGradient.AsSpan(3 * j, 3);
                for (int a = 0; a < count; a++)
                {
                    int k = problem.ByLandmarkObservation[start + a];
                    var hvl = b.ViewLandmark.AsSpan(3 * np * k, 3 * np);
                    int vo = np * problem.View[k];
                    for (int p = 0; p < np; p++)
                    {
                        double e0 = hvl[3 * p] * cj[0] + hvl[3 * p + 1] * cj[3] + hvl[3 * p + 2] * cj[6];
                        double e1 = hvl[3 * p] * cj[1] + hvl[3 * p + 1] * cj[4] + hvl[3 * p + 2] * cj[7];
                        double e2 = hvl[3 * p] * cj[2] + hvl[3 * p + 1] * cj[5] + hvl[3 * p + 2] * cj[8];
                        e[3 * np * a + 3 * p] = e0; e[3 * np * a + 3 * p + 1] = e1; e[3 * np * a + 3 * p + 2] = e2;
                        local.G[vo + p] -= e0 * gl[0] + e1 * gl[1] + e2 * gl[2];
                    }
                }
                // S −= Σ_ab Hvl_a C Hvl_bᵀ over pairs a ≤ b, written into the block of the lower view
                // index first (upper triangle of view blocks); parameters without a variable are skipped.
                var sl = local.S;
                for (int a = 0; a < count; a++)
                {
                    int va = np * problem.View[problem.ByLandmarkObservation[start + a]];
                    for (int bb = a; bb < count; bb++)
                    {
                        int kb = problem.ByLandmarkObservation[start + bb];
                        int vb = np * problem.View[kb];
                        var hvl = b.ViewLandmark.AsSpan(3 * np * kb, 3 * np);
                        bool both = bb != a && va == vb; // a duplicate view: add the transpose too
                        for (int p = 0; p < np; p++)
                        {
                            if (!isActive[va + p]) continue;
                            double e0 = e[3 * np * a + 3 * p], e1 = e[3 * np * a + 3 * p + 1], e2 = e[3 * np * a + 3 * p + 2];
                            for (int q = 0; q < np; q++)
                            {
                                if (!isActive[vb + q]) continue;
                                double val = e0 * hvl[3 * q] + e1 * hvl[3 * q + 1] + e2 * hvl[3 * q + 2];
                                if (va <= vb) sl[(va + p) * nr + vb + q] -= val;
                                else sl[(vb + q) * nr + va + p] -= val;
                                if (both) sl[(vb + q) * nr + va + p] -= val;
                            }
                        }
                    }
                }
                return local;
            }
        // Mirror the upper view blocks into the lower ones (diagonal blocks are complete).
        for (int r = 0; r < nr; r++)
            for (int col = (r / np + 1) * np; col < nr; col++) s[col * nr + r] = s[r * nr + col];
        for (int i = 0; i < nv; i++)
            for (int p = 0; p < np; p++)
            {
                g[np * i + p] += b.ViewGradient[np * i + p];
                for (int q = 0; q < np; q++) s[(np * i + p) * nr + np * i + q] += b.ViewView[np * np * i + np * p + q];
            }
        // The tilt prior: residual √w·(θ_i − nominal_i) per view, so g += w·(θ_i − nominal_i) and H += w on the tilt diagonal
        // (not damped by λ: it is part of the cost, not of the step control).
        if (prior is not null && prior.Weight > 0)
            for (int i = 0; i < nv; i++)
            {
                int r = np * i + BundleLayout.Tilt;
                g[r] += prior.Weight * (state[S * i + BundleLayout.Tilt] - prior.Nominal[i]);
                s[r * nr + r] += prior.Weight;
            }
        // The axis hold: residual √W·(mean α − target), d/dα_i = √W/n for each of the n views in the mean.
        if (prior is not null && prior.AxisWeight > 0 && prior.AxisViews.Length > 0)
        {
            int n = prior.AxisViews.Length;
            double gi = prior.AxisWeight * (prior.AxisMean(state) - prior.AxisTarget) / n, hij = prior.AxisWeight / ((double)n * n);
            foreach (int i in prior.AxisViews)
            {
                int r = np * i + BundleLayout.Rotation;
                g[r] += gi;
                foreach (int j in prior.AxisViews) s[r * nr + np * j + BundleLayout.Rotation] += hij;
            }
        }

        // Map to the solved variables: S' = Mᵀ S M, g' = Mᵀ g; damping from diag(Mᵀ Hvv M).
        var active = Enumerable.Range(0, nr).Where(r => map.Entries[r].Length > 0).ToArray();
        var sr = new double[nvar * nvar];
        var gr = new double[nvar];
        var damp = new double[nvar];
        foreach (int r1 in active)
        {
            foreach (var (v1, w1) in map.Entries[r1]) gr[v1] += w1 * g[r1];
            foreach (int r2 in active)
            {
                double x = s[r1 * nr + r2];
                if (x == 0) continue;
                foreach (var (v1, w1) in map.Entries[r1])
                    foreach (var (v2, w2) in map.Entries[r2]) sr[v1 * nvar + v2] += w1 * w2 * x;
            }
        }
        for (int i = 0; i < nv; i++)
            for (int p = 0; p < np; p++)
                foreach (var (v1, w1) in map.Entries[np * i + p])
                    for (int q = 0; q < np; q++)
                        foreach (var (v2, w2) in map.Entries[np * i + q])
                            if (v1 == v2) damp[v1] += w1 * w2 * b.ViewView[np * np * i + np * p + q];
        double meanDiag = 0;
        for (int v = 0; v < nvar; v++) meanDiag += damp[v];
        meanDiag = Math.Max(meanDiag / Math.Max(nvar, 1), 1e-300);
        for (int v = 0; v < nvar; v++) sr[v * nvar + v] += lambda * Math.Max(damp[v], 1e-9 * meanDiag) + 1e-14 * meanDiag;

        // Translation gauge: moving every landmark by t and view i's shift by A_i·t changes nothing;
        // add c·n nᵀ along those directions (the gradient has no component there).
        Span<double> av = stackalloc double[6];
        var n3 = new double[3 * nvar];
        for (int i = 0; i < nv; i++)
        {
            int vx = map.ShiftVariable(i, 3), vy = map.ShiftVariable(i, 4);
            if (vx < 0 || vy < 0) continue;
            DistortionModel.LinearPart(state.AsSpan(S * i, S), av);
            for (int t = 0; t < 3; t++) { n3[t * nvar + vx] = av[t]; n3[t * nvar + vy] = av[3 + t]; }
        }
        for (int t = 0; t < 3; t++)
        {
            double norm2 = 0;
            for (int v = 0; v < nvar; v++) norm2 += n3[t * nvar + v] * n3[t * nvar + v];
            if (norm2 <= 0) continue;
            double scale = meanDiag / norm2;
            for (int v1 = 0; v1 < nvar; v1++)
            {
                double a1 = n3[t * nvar + v1];
                if (a1 == 0) continue;
                for (int v2 = 0; v2 < nvar; v2++) sr[v1 * nvar + v2] += scale * a1 * n3[t * nvar + v2];
            }
        }

        // Stretch gauge: with a stretch variable per view, a shear of the landmarks in z by x (z += b·x, a tilt of the specimen's
        // plane about y) is undone exactly by stretches s_i = −b·tan θ_i, so that direction is pinned like the translation.
        if (map.StretchPerView)
        {
            var ns = new double[nvar];
            double norm2 = 0;
            for (int i = 0; i < nv; i++)
                foreach (var (v, w) in map.Entries[np * i + DistortionModel.Stretch]) ns[v] += w * Math.Tan(state[S * i + BundleLayout.Tilt]);
            for (int v = 0; v < nvar; v++) norm2 += ns[v] * ns[v];
            if (norm2 > 0)
            {
                double scale = meanDiag / norm2;
                for (int v1 = 0; v1 < nvar; v1++)
                {
                    if (ns[v1] == 0) continue;
                    for (int v2 = 0; v2 < nvar; v2++) sr[v1 * nvar + v2] += scale * ns[v1] * ns[v2];
                }
            }
        }

        double[] x2;
        try
        {
            var m = Matrix<double>.Build.Dense(nvar, nvar, sr);
            var rhs = Vector<double>.Build.Dense(nvar, k => -gr[k]);
            x2 = m.Cholesky().Solve(rhs).ToArray();
        }
        catch (ArgumentException)
        {
            return null;
        }
        if (x2.Any(v => !double.IsFinite(v))) return null;
        var delta = new double[nr];
        foreach (int r in active)
            foreach (var (v, w) in map.Entries[r]) delta[r] += w * x2[v];
        return delta;
    }

    /// <summary>δX_j = −C_j (g_j + Σ_a Hvl_aᵀ δview_a); writes lm + δX into <paramref name="trialLm"/>.</summary>
    private static void BackSubstitute(BundleProblem problem, BundleNormalBlocks b, double[] delta, double[] c, double[] lm, double[] trialLm)
    {
        Parallel.For(0, problem.LandmarkCount, j =>
        {
            double r0 = b.LandmarkGradient[3 * j], r1 = b.LandmarkGradient[3 * j + 1], r2 = b.LandmarkGradient[3 * j + 2];
            for (int t = problem.ByLandmarkStart[j]; t < problem.ByLandmarkStart[j + 1]; t++)
            {
                int k = problem.ByLandmarkObservation[t];
                int np = b.ViewParameters;
                int vo = np * problem.View[k];
                for (int p = 0; p < np; p++)
                {
                    double d = delta[vo + p];
                    r0 += b.ViewLandmark[3 * np * k + 3 * p] * d;
                    r1 += b.ViewLandmark[3 * np * k + 3 * p + 1] * d;
                    r2 += b.ViewLandmark[3 * np * k + 3 * p + 2] * d;
                }
            }
            for (int q = 0; q < 3; q++)
                trialLm[3 * j + q] = lm[3 * j + q] - (c[9 * j + 3 * q] * r0 + c[9 * j + 3 * q + 1] * r1 + c[9 * j + 3 * q + 2] * r2);
        });
    }

    private static bool Invert3(ReadOnlySpan<double> m, Span<double> inv)
    {
        double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
        double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
        if (!(Math.Abs(det) > 1e-300) || !double.IsFinite(det)) return false;
        double id = 1 / det;
        inv[0] = c00 * id; inv[1] = (m[2] * m[7] - m[1] * m[8]) * id; inv[2] = (m[1] * m[5] - m[2] * m[4]) * id;
        inv[3] = c01 * id; inv[4] = (m[0] * m[8] - m[2] * m[6]) * id; inv[5] = (m[2] * m[3] - m[0] * m[5]) * id;
        inv[6] = c02 * id; inv[7] = (m[1] * m[6] - m[0] * m[7]) * id; inv[8] = (m[0] * m[4] - m[1] * m[3]) * id;
        return true;
    }

    /// <summary>
    /// Tukey biweight of the residual magnitudes, standardised as tiltalign does: z = (|r| − median) / (MAD/0.6745);
    /// weight 1 for z ≤ 0, (1 − (z/K)²)² below K, 0 beyond. Null when the scale is zero.
    /// </summary>
    internal static double[]? TukeyWeights(double[] residual, int n, double k)
    {
        var mag = new double[n];
        for (int t = 0; t < n; t++) mag[t] = Math.Sqrt(residual[2 * t] * residual[2 * t] + residual[2 * t + 1] * residual[2 * t + 1]);
        var (median, sd) = RobustScale(mag);
        if (!(sd > 1e-12)) return null;
        var w = new double[n];
        for (int t = 0; t < n; t++)
        {
            double z = (mag[t] - median) / sd;
            w[t] = z <= 0 ? 1 : z < k ? Sq(1 - Sq(z / k)) : 0;
        }
        return w;
    }

    /// <summary>
    /// Tukey biweights of whole tracks (tiltalign -WeightWholeTracks): each landmark's RMS residual is standardised
    /// against the median and MAD of all landmarks' and its weight is given to every one of its observations, so a
    /// track that followed the wrong feature loses all its points together. Null when the scale is zero.
    /// </summary>
    internal static double[]? TrackTukeyWeights(double[] residual, int[] landmark, int landmarkCount, double k)
    {
        int n = landmark.Length;
        var sum = new double[landmarkCount];
        var count = new int[landmarkCount];
        for (int t = 0; t < n; t++)
        {
            sum[landmark[t]] += residual[2 * t] * residual[2 * t] + residual[2 * t + 1] * residual[2 * t + 1];
            count[landmark[t]]++;
        }
        var rms = new double[landmarkCount];
        var seen = new List<double>(landmarkCount);
        for (int j = 0; j < landmarkCount; j++)
            if (count[j] > 0) { rms[j] = Math.Sqrt(sum[j] / count[j]); seen.Add(rms[j]); }
        var (median, sd) = RobustScale(seen);
        if (!(sd > 1e-12)) return null;
        var w = new double[n];
        for (int t = 0; t < n; t++)
        {
            double z = (rms[landmark[t]] - median) / sd;
            w[t] = z <= 0 ? 1 : z < k ? Sq(1 - Sq(z / k)) : 0;
        }
        return w;
    }

    private static double Sq(double x) => x * x;

    /// <summary>Median and normalised MAD (MAD / 0.6745).</summary>
    internal static (double Median, double Sd) RobustScale(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return (double.NaN, double.NaN);
        double median = Median(values);
        double mad = Median(values.Select(v => Math.Abs(v - median)).ToList());
        return (median, mad / 0.6745);
    }

    private static double Median(IReadOnlyList<double> values)
    {
        var s = values.ToArray();
        Array.Sort(s);
        int n = s.Length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    private SolveResult Report(SolveInput input, SolveOptions options, BundleProblem problem, List<int> ids, double[] state, double[] lm,
        double[] weights, VariableMap map, int reference, SolveStopReason stop, int iterations, int rounds, List<string> notes, List<int> dropped,
        TiltChoice? tiltChoice = null)
    {
        int nv = problem.ViewCount, n = problem.ObservationCount;
        var residual = new double[2 * n];
        _ne.Residuals(problem, state, lm, Enumerable.Repeat(1.0, n).ToArray(), residual);
        var mag = new double[n];
        double sumSq = 0;
        for (int k = 0; k < n; k++) { mag[k] = Math.Sqrt(residual[2 * k] * residual[2 * k] + residual[2 * k + 1] * residual[2 * k + 1]); sumSq += mag[k] * mag[k]; }
        var (med, sd) = RobustScale(mag);
        var points = new PointResidual[n];
        for (int k = 0; k < n; k++)
        {
            bool flagged = sd > 0 && (mag[k] - med) / sd > options.OutlierSds;
            points[k] = new PointResidual(ids[problem.Landmark[k]], problem.View[k], problem.X[k] + input.CenterX, problem.Y[k] + input.CenterY,
                residual[2 * k], residual[2 * k + 1], weights[k], flagged);
        }
        var perView = new ResidualStats[nv];
        for (int i = 0; i < nv; i++)
            perView[i] = ResidualStats.Of(Enumerable.Range(problem.ByViewStart[i], problem.ByViewStart[i + 1] - problem.ByViewStart[i]).Select(t => mag[problem.ByViewObservation[t]]));
        var perLandmark = new ResidualStats[problem.LandmarkCount];
        for (int j = 0; j < perLandmark.Length; j++)
            perLandmark[j] = ResidualStats.Of(Enumerable.Range(problem.ByLandmarkStart[j], problem.ByLandmarkStart[j + 1] - problem.ByLandmarkStart[j]).Select(t => mag[problem.ByLandmarkObservation[t]]));
        var (lmed, lsd) = RobustScale(perLandmark.Select(s => s.Mean).ToList());
        var landmarks = new SolvedLandmark[problem.LandmarkCount];
        for (int j = 0; j < landmarks.Length; j++)
            landmarks[j] = new SolvedLandmark(ids[j], lm[3 * j], lm[3 * j + 1], lm[3 * j + 2], perLandmark[j],
                lsd > 0 && (perLandmark[j].Mean - lmed) / lsd > options.OutlierSds);
        var views = new ViewGeometry[nv];
        for (int i = 0; i < nv; i++)
        {
            int o = S * i;
            views[i] = new ViewGeometry(state[o + 1] * 180 / Math.PI, state[o] * 180 / Math.PI, state[o + 2], state[o + 3], state[o + 4], state[o + 5] * 180 / Math.PI,
                state[o + DistortionModel.StretchState], state[o + DistortionModel.SkewState] * 180 / Math.PI);
        }
        int unknowns = map.Count + 3 * problem.LandmarkCount - 3;
        string gauge = $"reference view {reference} (tilt {views[reference].TiltDegrees:F2}°): its tilt and magnification are fixed; " +
                       $"landmark centroid at the origin (x, y, z), shifts relative to it; x-axis tilt fixed at {options.XAxisTiltDegrees:F2}°" +
                       (map.Parameters == DistortionModel.AllParameters ? $"; X-stretch ({options.XStretch}) and skew ({options.Skew}) of the reference view fixed at 0 (a common distortion is absorbed by the landmarks)" : "") +
                       (map.StretchPerView ? "; no stretch component along tan θ (a z-by-x shear of the landmarks)" : "");
        var overall = ResidualStats.Of(mag);
        _log.LogInformation("Residual over {Count} points: mean {Mean:F3} px, SD {Sd:F3}, RMS {Rms:F3}; {Flagged} point(s) and {FlaggedLm} landmark(s) beyond {N} SDs",
            n, overall.Mean, overall.Sd, overall.Rms, points.Count(p => p.Flagged), landmarks.Count(l => l.Flagged), options.OutlierSds);
        return new SolveResult
        {
            Options = options,
            StopReason = stop,
            Iterations = iterations,
            RobustRounds = rounds,
            Views = views,
            Landmarks = landmarks,
            Points = points,
            Overall = overall,
            PerView = perView,
            RmsPerAxis = Math.Sqrt(sumSq / (2.0 * n)),
            Unknowns = unknowns,
            ViewVariables = map.Count,
            Gauge = gauge,
            Notes = notes.ToList(),
            DroppedLandmarks = dropped.ToList(),
            ReferenceView = reference,
            TiltChoice = tiltChoice,
        };
    }
}
