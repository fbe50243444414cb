using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Beads;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.IO;
using Tomalign.Core.Patches;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Refine;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// The state of one run as its stages fill it in: the series (read when a stage first needs its pixels), and what each
/// stage produced or read back.
/// </summary>
internal sealed class PipelineRun(PipelineSpec spec, PipelineContext context, IComputeBackend backend, RunReport report,
    int nx, int ny, int nz, double[] tilts, StageLedger ledger)
{
    private ImageStack? _data;

    public PipelineSpec Spec { get; } = spec;
    public PipelineContext Context { get; } = context;
    public IComputeBackend Backend { get; } = backend;
    public RunReport Report { get; } = report;
    public StageLedger Ledger { get; } = ledger;
    public ILogger Log => Context.Log;
    public int Nx { get; } = nx;
    public int Ny { get; } = ny;
    public int Nz { get; } = nz;
    public double[] Tilts { get; } = tilts;

    /// <summary>The raw stack, read (stage "read") when a stage first needs it: a resumed run that reuses the alignment never reads it whole.</summary>
    public ImageStack Data => _data ??= Report.Stage("read", () => TiltSeriesReader.Read(Spec.Stack, Spec.Angles, Context.Progress("read"), Context.Cancel)).Stack;

    public string P(string suffix) => Spec.OutputPath(suffix);

    // coarse
    public double TiltAxis { get; set; }
    public Xf[] Prexg { get; set; } = [];
    public CoarseAlignResult? Coarse { get; set; }
    public IReadOnlyList<double>? CoarseStrengths { get; set; }
    // landmarks
    public ImageStack? Prealigned { get; set; }
    public BeadTracker? Tracker { get; set; }
    public List<LandmarkObservation> Observations { get; set; } = [];
    public BeadTrackResult? Beads { get; set; }
    public PatchTrackResult? Patches { get; set; }
    // solve
    public SolveOptions SolveOptions { get; set; } = new();
    public SolveInput? SolveInput { get; set; }
    public SolveResult? Solve { get; set; }
    public Quality.QualityVerdict? Quality { get; set; }
    public PreparedSeries? Preparation { get; set; }
    /// <summary>What the angle file, the mdoc or the extended header say of the user's views (stack order).</summary>
    public SeriesMetadata? Metadata { get; set; }
    // apply, reconstruct
    public ApplyTransforms.AlignedStack? AlignedInMemory { get; set; }
    public ReconstructionSummary? Summary { get; set; }
    /// <summary>The record of a stage whose outputs are finished later (the aligned stack written while the tomogram is made).</summary>
    public Action? PendingRecord { get; set; }

    public AlignmentOutcome Alignment() => new(P(".prexg"), P(".fid"), P(".xf"), P(".tlt"),
        Solve ?? throw new InvalidOperationException("the solve has not run"), Coarse, Tilts, TiltAxis, Nx, Ny)
    {
        Landmarks = Observations, Beads = Beads, Patches = Patches, CoarseStrengths = CoarseStrengths, Local = Local,
    };

    /// <summary>The local alignments solved in this run (--local; null when reused or not asked for).</summary>
    public LocalSolution? Local { get; set; }
}

/// <summary>
/// A stage of <see cref="TiltSeriesPipeline"/>: its name, the files it reads from outside the pipeline (the upstream
/// stages' outputs enter through the upstream fingerprint), the options that affect it, the files it writes, how to do it
/// and how to read it back when it is reused.
/// </summary>
internal abstract class PipelineStage
{
    public abstract string Name { get; }
    public virtual IEnumerable<(string Key, string Path)> Inputs(PipelineRun run) => [];
    public abstract JsonObject Options(PipelineRun run);
    public abstract IEnumerable<string> Outputs(PipelineRun run);
    public abstract void Execute(PipelineRun run);
    /// <summary>Reads the stage's outputs back into the run; a <see cref="TomalignInputException"/> makes it be redone.</summary>
    public abstract void Reuse(PipelineRun run, StageRecord record);
    /// <summary>True when the stage's outputs are finished after <see cref="Execute"/> returns (its record is then written by <see cref="PipelineRun.PendingRecord"/>).</summary>
    public virtual bool RecordsLater(PipelineRun run) => false;
}

/// <summary>Coarse alignment (tiltxcorr) and, with --tilt-axis auto, the tilt-axis search: NAME.prexf, NAME.prexg.</summary>
internal sealed class CoarseStage : PipelineStage
{
    public override string Name => "coarse";
    public override IEnumerable<(string, string)> Inputs(PipelineRun run) => [("stack", run.Spec.Stack), ("angles", run.Spec.Angles)];
    public override JsonObject Options(PipelineRun run) => new() { ["tiltAxis"] = run.Spec.TiltAxis is { } a ? JsonValue.Create(a) : JsonValue.Create("auto") };
    public override IEnumerable<string> Outputs(PipelineRun run) => [run.P(".prexf"), run.P(".prexg")];

    public override void Execute(PipelineRun run)
    {
        var aligner = new CoarseAligner(run.Backend.PairCorrelator, run.Log);
        run.TiltAxis = TiltSeriesPipeline.ResolveTiltAxis(run.Spec.TiltAxis, run.Backend.PairCorrelator, run.Data, run.Tilts, run.Log, run.Report,
            run.Context.Progress("tilt axis"));
        run.Report.Results["tiltAxisDegrees"] = run.TiltAxis;
        var c = run.Report.Stage("coarse", () => aligner.Align(run.Data, run.Tilts, new CoarseAlignOptions { TiltAxisDegrees = run.TiltAxis }));
        run.Coarse = c;
        run.Prexg = c.Prexg;
        run.CoarseStrengths = c.Pairs.Select(r => r.Strength).ToArray();
        ImodText.WriteXf(run.P(".prexf"), c.Prexf);
        ImodText.WriteXf(run.P(".prexg"), c.Prexg);
        run.Report.Outputs.AddRange([Path.GetFullPath(run.P(".prexf")), Path.GetFullPath(run.P(".prexg"))]);
        // The later stages start from the file as written (its text precision), as a resumed run does (Reuse): a run
        // stopped after this stage and resumed, on this machine or a cluster node, ends with the same outputs to the bit.
        run.Prexg = TiltSeriesFiles.ReadXfFor(run.P(".prexg"), run.Spec.Stack, run.Nz);
        run.Report.Warnings.AddRange(c.Warnings);
        run.Report.Results["coarsePeakStrengths"] = run.CoarseStrengths;
    }

    public override void Reuse(PipelineRun run, StageRecord record)
    {
        run.Prexg = TiltSeriesFiles.ReadXfFor(run.P(".prexg"), run.Spec.Stack, run.Nz);
        run.TiltAxis = record.Results["tiltAxisDegrees"]?.GetValue<double>()
            ?? throw new TomalignInputException(run.Ledger.Path, "the coarse stage's record has no tilt axis", "run without --resume");
        run.CoarseStrengths = (record.Results["coarsePeakStrengths"] as JsonArray)?.Select(v => v?.GetValue<double>() ?? double.NaN).ToArray();
        run.Log.LogInformation("resume: coarse alignment read from {File} (tilt axis {Axis:F2}°)", run.P(".prexg"), run.TiltAxis);
    }
}

/// <summary>Landmarks on the prealigned stack: gold beads (autofidseed + beadtrack) or patch tracking: NAME.fid.</summary>
internal sealed class LandmarkStage : PipelineStage
{
    public override string Name => "landmarks";

    public override JsonObject Options(PipelineRun run) => run.Spec.Markerless
        ? new() { ["markerless"] = true }
        : run.Spec.LightBeads
            ? new() { ["beadDiameter"] = run.Spec.BeadDiameter, ["beads"] = run.Spec.Beads, ["lightBeads"] = true }
            : new() { ["beadDiameter"] = run.Spec.BeadDiameter, ["beads"] = run.Spec.Beads };

    public override IEnumerable<string> Outputs(PipelineRun run) => [run.P(".fid")];

    public override void Execute(PipelineRun run)
    {
        var pre = run.Prealigned = run.Report.Stage("prealign", () => TiltSeriesPipeline.Prealign(run.Backend, run.Data, run.Prexg));
        // One tracker for both bead passes: the second (in the solve stage) reuses the first's bead-model scores.
        run.Tracker = new BeadTracker(run.Backend.TemplateCorrelator, run.Log);
        run.Observations = run.Report.Stage("landmarks", () => Track(run, pre));
        ImodModel.FromObservations(run.Observations, run.Nx, run.Ny, run.Nz).Write(run.P(".fid"));
        run.Report.Outputs.Add(Path.GetFullPath(run.P(".fid")));
    }

    public override void Reuse(PipelineRun run, StageRecord record)
    {
        run.Observations = ImodModel.Read(run.P(".fid")).ToObservations();
        run.Log.LogInformation("resume: landmarks read from {File}", run.P(".fid"));
    }

    private static List<LandmarkObservation> Track(PipelineRun run, ImageStack pre)
    {
        var (spec, report, input) = (run.Spec, run.Report, run.Spec.Stack);
        if (!spec.Markerless)
        {
            var b = run.Tracker!.Track(pre, run.Tilts, new BeadTrackOptions { BeadDiameter = spec.BeadDiameter!.Value, Beads = spec.Beads, TiltAxisDegrees = run.TiltAxis, LightBeads = spec.LightBeads },
                run.Context.Progress("beads"));
            BeadTrackReporting.WriteMeasures(report, b);
            if (b.Seeded == 0) throw BeadTrackReporting.Failure(input, b, "use --markerless for a series without gold");
            run.Beads = b;
            report.Warnings.AddRange(b.Warnings);
            report.Results["beadsSeeded"] = b.Seeded;
            report.Results["beadMeanTrackLength"] = b.MeanTrackLength;
            return b.Observations.ToList();
        }
        PatchTrackResult r;
        try { r = new PatchTracker(run.Backend.PairCorrelator, run.Log).Track(pre, run.Tilts, new PatchTrackOptions { TiltAxisDegrees = run.TiltAxis }, run.Context.Progress("patch")); }
        catch (ArgumentException e) { throw new TomalignInputException(input, e.Message, "markerless alignment needs views of at least about 150 pixels"); }
        if (r.Landmarks == 0)
            throw new TomalignInputException(input, "no patch could be tracked over enough views", "check --tilt-axis; a featureless series cannot be aligned markerless");
        run.Patches = r;
        report.Warnings.AddRange(r.Warnings);
        report.Results["patches"] = r.Patches;
        report.Results["patchPieces"] = r.Landmarks;
        report.Results["patchMedianStrength"] = r.MedianStrength;
        report.Results["patchSize"] = r.PatchSize;
        report.Results["patchBin"] = r.Bin;
        report.Results["patchMedianPeakSnr"] = r.MedianPeakSnr;
        report.Results["patchLinkResidualPixels"] = double.IsFinite(r.LinkResidualPixels) ? r.LinkResidualPixels : null;
        return r.Observations.ToList();
    }
}

/// <summary>
/// The bundle-adjustment solve (tiltalign); for beads tracked in this run, a second tracking pass with the solved model
/// and a final solve (NAME.fid rewritten); --two-surfaces marks each bead's surface in NAME.fid. NAME.solve.json holds
/// the whole solve, read back when the stage is reused.
/// </summary>
internal sealed class SolveStage : PipelineStage
{
    public override string Name => "solve";

    public override JsonObject Options(PipelineRun run)
    {
        var s = run.Spec.SolveOptions();
        var o = new JsonObject { ["rotation"] = s.Rotation.ToString(), ["tilt"] = s.Tilt.ToString(), ["mag"] = s.Magnification.ToString(), ["level"] = s.Level };
        if (!run.Spec.Markerless) o["twoSurfaces"] = run.Spec.TwoSurfaces;
        // Distortion only when asked for, so that the records of earlier runs (without it) still match.
        if (s.SolvesDistortion) { o["xstretch"] = s.XStretch.ToString(); o["skew"] = s.Skew.ToString(); }
        // The axis hold only when asked for, for the same reason.
        if (s.AxisHold != AxisHoldMode.Free) o["tiltAxisHold"] = s.AxisHold.ToString();
        return o;
    }

    public override IEnumerable<string> Outputs(PipelineRun run) => [run.P(".solve.json")];

    public override void Execute(PipelineRun run)
    {
        var (spec, report) = (run.Spec, run.Report);
        var solveOptions = spec.SolveOptions();
        // Patch tracks are weighted whole (a track that slid off its feature is wrong throughout): at 1024²×61 0.72 → 0.65 px.
        if (spec.Markerless) solveOptions = solveOptions with { WeightWholeTracks = true };
        run.SolveOptions = solveOptions;
        var observations = run.Observations;
        var solveInput = new SolveInput(observations, run.Nx, run.Ny, run.Tilts, run.TiltAxis);
        var result = report.Stage("solve", () => new BundleSolver(run.Backend.BundleNormalEquations, run.Log).Solve(solveInput, solveOptions));
        bool fidRewritten = false;
        if (!spec.Markerless && run.Prealigned is not null)
        {
            var options = new BeadTrackOptions { BeadDiameter = spec.BeadDiameter!.Value, Beads = spec.Beads, TiltAxisDegrees = run.TiltAxis, LightBeads = spec.LightBeads };
            var first = new BeadTrackResult(observations, spec.Beads, 0, 0, []);
            var second = report.Stage("beads (2nd pass)", () => run.Tracker!.Refine(run.Prealigned, first, result, options));
            if (second.Observations.Count >= observations.Count / 2)
            {
                observations = second.Observations.ToList();
                ImodModel.FromObservations(observations, run.Nx, run.Ny, run.Nz).Write(run.P(".fid"));
                fidRewritten = true;
                solveInput = new SolveInput(observations, run.Nx, run.Ny, run.Tilts, run.TiltAxis);
                var previous = result;
                result = report.Stage("solve (final)", () => new BundleSolver(run.Backend.BundleNormalEquations, run.Log).Solve(solveInput, solveOptions));
                report.Results["firstPassResidualMean"] = previous.Overall.Mean;
            }
        }
        if (!spec.Markerless && spec.TwoSurfaces)
        {
            var (surface, gap) = BeadTracker.SplitSurfaces(result.Landmarks, minimumGap: 2 * spec.BeadDiameter!.Value);
            ImodModel.FromObservations(observations, run.Nx, run.Ny, run.Nz, surfaceOf: id => surface.GetValueOrDefault(id, 1)).Write(run.P(".fid"));
            fidRewritten = true;
            report.Results["surfaces"] = new { bottom = surface.Values.Count(v => v == 1), top = surface.Values.Count(v => v == 2), gapPixels = gap };
        }
        // NAME.fid is the landmarks stage's output: its record follows the rewrite.
        if (fidRewritten) run.Ledger.RefreshOutputs("landmarks");
        run.Observations = observations;
        run.SolveInput = solveInput;
        run.Solve = result;
        AtomicFile.WriteAllText(run.P(".solve.json"), SolveReport.Json(result, solveOptions));
        report.Warnings.AddRange(result.Notes);
        report.Results["observations"] = result.ObservationCount;
        report.Results["landmarks"] = result.Landmarks.Length;
        report.Results["residualMean"] = result.Overall.Mean;
        report.Results["residualRms"] = result.Overall.Rms;
        report.Results["residualPerView"] = result.PerView.Select(v => v.Mean).ToArray();
        report.Results["solvedTilts"] = result.Views.Select(v => v.TiltDegrees).ToArray();
        report.Results["solvedRotations"] = result.Views.Select(v => v.AxisAngleDegrees).ToArray();
        // The tilt axis refined by the solve: the mean solved in-plane rotation (the search or the user gave its start).
        report.Results["tiltAxisSolvedDegrees"] = result.Views.Average(v => v.AxisAngleDegrees);
        report.Results["solvedMagnifications"] = result.Views.Select(v => v.Magnification).ToArray();
        report.Results["gauge"] = result.Gauge;
        if (result.TiltChoice is { } tiltChoice) report.Results["tiltChoice"] = tiltChoice;
        if (result.AxisChoice is { } axisChoice) report.Results["axisChoice"] = axisChoice;
        report.Results["specimenLevel"] = SpecimenLevel.Fit(result.Landmarks);
    }

    public override void Reuse(PipelineRun run, StageRecord record)
    {
        run.Solve = SolveResultFile.Read(run.P(".solve.json"));
        run.SolveOptions = run.Solve.Options ?? run.Spec.SolveOptions();
        run.SolveInput = new SolveInput(run.Observations, run.Nx, run.Ny, run.Tilts, run.TiltAxis);
        if (run.Solve.Views.Length != run.Nz)
            throw new TomalignInputException(run.P(".solve.json"), $"has {run.Solve.Views.Length} views, the stack {run.Nz}", "run without --resume");
        run.Log.LogInformation("resume: solve read from {File} (residual mean {Mean:F3} px)", run.P(".solve.json"), run.Solve.Overall.Mean);
    }
}

/// <summary>
/// The axis-profile refinement after the solve (<see cref="AxisProfileRefiner"/>; --axis-profiles), then the alignment's
/// files: NAME.xf (raw → aligned, for apply), .tltxf, .tlt, .xtilt, .resid, fid.xyz, .solve.txt and AreTomo's NAME.aln.
/// </summary>
internal sealed class RefineStage : PipelineStage
{
    public override string Name => "refine";

    public override JsonObject Options(PipelineRun run) => new JsonObject()
    {
        ["axisProfiles"] = run.Spec.AxisProfilesMode() switch { true => "on", false => "off", null => "auto" },
    }.WithLocal(run.Spec.Local);

    public override IEnumerable<string> Outputs(PipelineRun run) =>
        [run.P(".xf"), run.P(".tltxf"), run.P(".tlt"), run.P(".xtilt"), run.P(".resid"), run.P("fid.xyz"), run.P(".solve.txt"), run.P(".aln"),
         .. run.Spec.Local ? new[] { run.P("local.xf") } : []];

    public override void Execute(PipelineRun run)
    {
        var (spec, report, result) = (run.Spec, run.Report, run.Solve!);
        bool? refineProfiles = spec.AxisProfilesMode();
        var refinement = refineProfiles ?? spec.Markerless ? AxisProfileRefinement(run, result, forced: refineProfiles == true) : null;
        var files = SolveFiles.Write(result, run.SolveInput!, run.SolveOptions, spec.Out, spec.BaseName, run.Prexg, run.P(".prexg"), refinement: refinement);
        // The solve's own record covers NAME.solve.json, written again here with the same content.
        run.Ledger.RefreshOutputs("solve");
        report.Outputs.AddRange(files.All.Select(Path.GetFullPath));
        // The same alignment for AreTomo's users.
        // When views were sorted or left out, the .aln refers to the user's own stack, as AreTomo's does to its raw stack: the
        // views left out are its dark frames.
        var alnXf = ImodText.ReadXf(files.Xf!);
        var alnTilts = result.Views.Select(v => v.TiltDegrees).ToArray();
        (run.Preparation is { Unchanged: false } prep && run.Metadata is { } meta
            ? AreTomoAln.FromImodForInput(alnXf, alnTilts, run.Nx, run.Ny, prep.InputViews, meta.Tilts.Length, prep.Excluded.Select(e => (e.View, e.Tilt)))
            : run.Preparation is { Excluded.Count: > 0 } excluded
                ? WithDarkFrames(AreTomoAln.FromImod(alnXf, alnTilts, run.Nx, run.Ny), excluded)
                : AreTomoAln.FromImod(alnXf, alnTilts, run.Nx, run.Ny)).Write(run.P(".aln"));
        report.Outputs.Add(Path.GetFullPath(run.P(".aln")));
        if (spec.Local)
        {
            // Local alignments on top of the global solution; each area's transforms are followed by the refinement, as the views' are.
            var local = run.Local = report.Stage("local", () => new LocalAligner(run.Log).Solve(run.SolveInput!, result, new LocalOptions()));
            // The stack's pixel size, which IMOD's tilt compares with its input's to scale the areas (LOCALSCALE); 0 when the header has none.
            double pixel;
            using (var r = MrcReader.Open(spec.Stack)) pixel = r.Header.PixelSizeX;
            LocalAlignmentFile.From(local, pixel > 0 && double.IsFinite(pixel) ? pixel : 0, refinement).Write(run.P("local.xf"));
            report.Outputs.Add(Path.GetFullPath(run.P("local.xf")));
            report.Results["local"] = LocalReport.Json(local);
            report.Results["localResidualMean"] = local.MeanResidual;
            report.Warnings.AddRange(local.Notes);
        }
    }

    public override void Reuse(PipelineRun run, StageRecord record) =>
        run.Log.LogInformation("resume: alignment files kept ({File} and the rest)", run.P(".xf"));

    /// <summary>
    /// The specimen's thickness is estimated first; unless <paramref name="forced"/> (--axis-profiles on), it decides
    /// whether to refine at all. The per-view corrections that
    /// follow the solve's transforms, or null when not refined.
    /// </summary>
    private static Xf[]? AxisProfileRefinement(PipelineRun run, SolveResult solved, bool forced)
    {
        var (report, data, backend) = (run.Report, run.Data, run.Backend);
        var current = solved.Views.Select((v, i) => Xf.Product(run.Prexg[i], v.RawToAligned())).ToArray();
        var solvedTilts = solved.Views.Select(v => v.TiltDegrees).ToArray();
        var zs = solved.Landmarks.Where(l => !l.Flagged).Select(l => l.Z).OrderBy(z => z).ToArray();
        try
        {
            var thick = report.Stage("thickness", () => SpecimenThickness.Estimate(backend, data, current, solvedTilts));
            double limit = Math.Min(data.Nx, data.Ny) / (double)TiltSeriesPipeline.AxisProfilesMaxThicknessFraction;
            report.Results["specimenThickness"] = new { pixels = thick.ThicknessPixels, centrePixels = thick.CentrePixels, bin = thick.Bin };
            if (!forced && !(thick.ThicknessPixels > 0 && thick.ThicknessPixels <= limit))
            {
                run.Log.LogInformation("axis profiles: skipped, the specimen's estimated thickness {T:F0} px is more than 1/{F} of the field ({L:F0} px)",
                    thick.ThicknessPixels, TiltSeriesPipeline.AxisProfilesMaxThicknessFraction, limit);
                report.Results["axisProfiles"] = new { applied = false, reason = $"estimated thickness {thick.ThicknessPixels:F0} px > {limit:F0} px" };
                return null;
            }
            var options = new AxisProfileOptions { ZCentre = zs.Length > 0 ? zs[zs.Length / 2] : 0 };
            var ap = report.Stage("axis profiles", () => new AxisProfileRefiner(backend.Warper, run.Log).Refine(data, current, solvedTilts, options, run.Context.Cancel));
            var last = ap.Rounds[^1];
            report.Results["axisProfiles"] = new
            {
                applied = true, bin = ap.Bin, referenceView = ap.ReferenceView, matches = last.Matches,
                rmsRotationDegrees = last.RmsRotationDegrees, rmsScalePercent = last.RmsScalePercent, rmsShiftPixels = last.RmsShiftPixels,
            };
            return ap.Corrections;
        }
        catch (ArgumentException e)
        {
            report.Warnings.Add($"axis-profile refinement skipped: {e.Message}");
            run.Log.LogWarning("axis-profile refinement skipped: {Reason}", e.Message);
            return null;
        }
    }

    /// <summary>
    /// The views the preparation left out as AreTomo's dark frames (issue 15.2): RawSize counts every view of the user's
    /// stack; each excluded view is a <c># DarkFrame = FRAME SECTION TILT</c> line, FRAME its place among the user's views
    /// in tilt order (the rows are the other views in that order, as <see cref="AreTomoAln.RawIndexes"/> reads them) and
    /// SECTION its section in the user's stack (0-based).
    /// </summary>
    internal static AreTomoAln WithDarkFrames(AreTomoAln aln, PreparedSeries prep)
    {
        var sorted = prep.SortedInputViews.Length > 0 ? prep.SortedInputViews
            : prep.InputViews.Concat(prep.Excluded.Select(e => e.View)).Order().ToArray();
        var frameOf = new Dictionary<int, int>();
        for (int k = 0; k < sorted.Length; k++) frameOf[sorted[k]] = k;
        var dark = prep.Excluded.Select(e => new AlnDarkFrame(frameOf[e.View], e.View, e.Tilt)).OrderBy(d => d.RawIndex).ToArray();
        return aln with { RawNz = sorted.Length, DarkFrames = dark };
    }
}

/// <summary>
/// The aligned stack (newstack -xform), NAME.ali. When it fits the memory budget it is kept in memory for the
/// reconstruction and written beside it (its record is then written once the file is whole).
/// </summary>
internal sealed class ApplyStage : PipelineStage
{
    public override string Name => "apply";
    public override JsonObject Options(PipelineRun run) => new() { ["bin"] = run.Spec.Bin };
    public override IEnumerable<string> Outputs(PipelineRun run) => [run.P(".ali")];
    public override bool RecordsLater(PipelineRun run) => run.AlignedInMemory is not null;

    public override void Execute(PipelineRun run)
    {
        var (spec, report) = (run.Spec, run.Report);
        string ali = run.P(".ali"), xf = run.P(".xf");
        var xfs = ImodText.ReadXf(xf);
        var applyOptions = new ApplyOptions { Bin = spec.Bin };
        long need = ApplyTransforms.AlignedBytes(spec.Stack, applyOptions), budget = spec.AlignedStackMemoryBytes ?? TiltSeriesPipeline.DefaultAlignedStackMemoryBytes();
        if (need <= budget && need / 4 <= Array.MaxLength)
        {
            // The aligned stack stays in memory: the tomogram is reconstructed from it while NAME.ali is written beside.
            run.Log.LogInformation("apply: the aligned stack ({Need:F0} MB) is kept in memory for the reconstruction (budget {Budget:F0} MB) and written to {File} meanwhile",
                need / 1e6, budget / 1e6, ali);
            run.AlignedInMemory = report.Stage("apply", () => new ApplyTransforms(run.Backend, run.Log).RunInMemory(spec.Stack, xfs, xf, ali, applyOptions, run.Context.Progress("apply")));
            report.Results["alignedStackInMemory"] = true;
        }
        else
        {
            run.Log.LogInformation("apply: the aligned stack ({Need:F0} MB) exceeds the memory budget ({Budget:F0} MB): written to {File} and read back by slabs",
                need / 1e6, budget / 1e6, ali);
            report.Stage("apply", () => new ApplyTransforms(run.Backend, run.Log).Run(spec.Stack, xfs, xf, ali, applyOptions, run.Context.Progress("apply")));
            report.Outputs.Add(Path.GetFullPath(ali));
            report.Results["alignedStackInMemory"] = false;
        }
    }

    public override void Reuse(PipelineRun run, StageRecord record) => run.Log.LogInformation("resume: aligned stack {File} kept", run.P(".ali"));
}

/// <summary>The tomogram (IMOD tilt): WBP or SIRT from the aligned stack, NAME.rec.</summary>
internal sealed class ReconstructStage : PipelineStage
{
    public override string Name => "reconstruct";

    public override JsonObject Options(PipelineRun run) => new JsonObject()
    {
        ["thickness"] = run.Spec.Thickness, ["method"] = run.Spec.Method.Trim().ToLowerInvariant(), ["iterations"] = run.Spec.Iterations, ["log"] = run.Spec.Log,
    }.WithLocal(run.Spec.Local);

    public override IEnumerable<string> Outputs(PipelineRun run) => [run.P(".rec")];

    public override void Execute(PipelineRun run)
    {
        var (spec, report) = (run.Spec, run.Report);
        string ali = run.P(".ali"), rec = run.P(".rec");
        var tilts = ImodText.ReadAngles(run.P(".tlt"));
        var recOptions = spec.ReconstructionOptions();
        if (spec.Local)
        {
            // With local alignments: the aligned stack written first (if still in memory), then each voxel backprojected through the nearest areas.
            var local = LocalAlignmentFile.Read(run.P("local.xf"), tilts.Length);
            if (run.AlignedInMemory is { } inMemory)
            {
                report.Stage("write aligned", () => { inMemory.Write(); run.PendingRecord?.Invoke(); });
                report.Outputs.Add(Path.GetFullPath(ali));
            }
            run.Summary = report.Stage("reconstruct", () => new LocalReconstructor(run.Backend, run.Log).Run(ali, tilts, local, rec, recOptions, run.Context.Progress("reconstruct"), run.Context.Cancel));
        }
        else if (run.AlignedInMemory is { } aligned)
        {
            var record = run.PendingRecord;
            run.Summary = report.Stage("reconstruct", () => TiltSeriesPipeline.ReconstructWhileWriting(run.Backend, run.Log, run.Context.Progress("reconstruct"),
                aligned, tilts, rec, recOptions, run.Context.Cancel, written: record));
            report.Outputs.Add(Path.GetFullPath(ali));
        }
        else
            run.Summary = report.Stage("reconstruct", () => new Reconstructor(run.Backend, run.Log).Run(ali, tilts, rec, recOptions, run.Context.Progress("reconstruct"), run.Context.Cancel));
        report.Outputs.Add(Path.GetFullPath(rec));
        report.Results["volume"] = new[] { run.Summary.Nx, run.Summary.Ny, run.Summary.Nz };
        report.Results["method"] = recOptions.Method.ToString().ToLowerInvariant();
    }

    public override void Reuse(PipelineRun run, StageRecord record)
    {
        using var reader = MrcReader.Open(run.P(".rec"));
        run.Summary = new ReconstructionSummary(reader.Nx, reader.Ny, reader.Nz, 0, 0, 0, 0, 0);
        run.Log.LogInformation("resume: tomogram {File} kept", run.P(".rec"));
    }
}

internal static class StageOptionsExtensions
{
    /// <summary>Adds "local": true when local alignments are asked for (records of runs without them stay as they were).</summary>
    public static JsonObject WithLocal(this JsonObject o, bool local)
    {
        if (local) o["local"] = true;
        return o;
    }
}
