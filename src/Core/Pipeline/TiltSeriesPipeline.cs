using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Reporting;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// The whole job on one tilt series, as a library: coarse → landmarks → solve → refine (the alignment, `align`), then
/// apply → reconstruct (`run`). One <see cref="PipelineSpec"/> says what to do, one <see cref="PipelineContext"/> carries
/// logging, progress and cancellation; the command line, the job service and a user's program all call <see cref="Run"/>.
/// <para>
/// Every stage is an object with declared inputs, options and outputs (<see cref="PipelineStage"/>). As a stage completes
/// it records in NAME.stages.json what it was made from: a fingerprint of the upstream stage's fingerprint, the identity
/// of the files it read (length and content hash) and the options that affect it, and the identity of the files it wrote.
/// With <see cref="PipelineSpec.Resume"/>, a stage is reused only when that record matches and its outputs are unchanged;
/// otherwise it and every stage after it are done again. The report's <c>resume</c> field and the log say which.
/// </para>
/// </summary>
public sealed class TiltSeriesPipeline(IComputeBackend backend)
{
    /// <summary>--axis-profiles auto refines when the estimated specimen thickness is at most the field's smaller side over this.</summary>
    public const int AxisProfilesMaxThicknessFraction = 12;

    /// <summary>NAME.stages.json: the records of the completed stages.</summary>
    public const string LedgerSuffix = ".stages.json";

    /// <summary>
    /// The most bytes of aligned stack `run` keeps in memory to reconstruct from (instead of reading NAME.ali back):
    /// a quarter of the memory available to the process (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>, which
    /// honours container limits), leaving the rest for the reconstruction's slabs and everything else.
    /// </summary>
    public static long DefaultAlignedStackMemoryBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;

    /// <summary>Runs the job and writes its reports (<see cref="WriteReports"/>).</summary>
    public PipelineResult RunAndReport(PipelineSpec spec, PipelineContext context)
    {
        var result = Run(spec, context);
        WriteReports(result, context);
        return result;
    }

    /// <summary>
    /// Runs the job: every output in <see cref="PipelineSpec.Out"/>, the stage records in NAME.stages.json. The JSON and
    /// HTML reports are written by <see cref="WriteReports"/> (a caller may add results to the report first).
    /// </summary>
    public PipelineResult Run(PipelineSpec spec, PipelineContext context)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(context);
        spec.Validate();
        string command = context.Command ?? (spec.Reconstructs ? "run" : "align");
        var report = context.Report ?? new RunReport(command, context.Arguments ?? spec.ToArguments());
        report.Device = backend.Description;
        report.DeviceMemory = backend.DeviceMemory;
        report.Cancel = context.Cancel;
        report.StageStarted = context.StageStarted;
        // The angles and what else is known of the acquisition: the angle file, --mdoc or an mdoc beside the stack, or the MRC
        // extended header. Without an angle file the angles are written to NAME.rawtlt, which the stages then read.
        var metadata = ResolveMetadata(ref spec, context.Log, report);
        report.Inputs.AddRange([Path.GetFullPath(spec.Stack), Path.GetFullPath(spec.Angles)]);
        report.Inputs.AddRange(metadata.MdocFiles.Select(Path.GetFullPath));
        // Checks that need only the header and the angles, before any long work.
        var (nx, ny, nz, tilts) = TiltSeriesReader.ReadHeaderAndAngles(spec.Stack, spec.Angles);
        var userExcluded = spec.ExcludeViews is { } list ? ViewScreening.ParseViewList(list, nz) : [];
        string userStack = spec.Stack;
        Directory.CreateDirectory(spec.Out);
        // Views in tilt order, unfit views left out: the stages then align NAME.prepared.mrc (the spec says so from here on).
        var prepared = SeriesPreparation.Prepare(spec, userExcluded, context.Log, report, context.Progress("screen views"), context.Cancel);
        if (!prepared.Unchanged)
        {
            spec = spec with { Name = spec.BaseName, Stack = prepared.Stack, Angles = prepared.Angles };
            (nx, ny, nz, tilts) = TiltSeriesReader.ReadHeaderAndAngles(spec.Stack, spec.Angles);
        }
        if (spec.Reconstructs && (nx / spec.Bin < 1 || ny / spec.Bin < 1))
            throw new TomalignInputException(null, $"binning by {spec.Bin} leaves no pixel of a {nx}×{ny} view", "use a smaller --bin");
        Directory.CreateDirectory(spec.Out);

        var run = new PipelineRun(spec, context, context.Cancel.CanBeCanceled ? CancellableBackend.Wrap(backend, context.Cancel, ownsInner: false) : backend, report, nx, ny, nz, tilts,
            StageLedger.Load(spec.OutputPath(LedgerSuffix)));
        run.Preparation = prepared;
        run.Metadata = metadata;
        var stages = new List<PipelineStage> { new CoarseStage(), new LandmarkStage(), new SolveStage(), new RefineStage() };
        if (spec.Reconstructs) stages.AddRange([new ApplyStage(), new ReconstructStage()]);
        var outcomes = new List<StageOutcome>();
        string? upstream = null, redoneFrom = null;
        foreach (var stage in stages)
        {
            if (stage is ApplyStage)
            {
                // The alignment is complete here: the place where the run's quality verdict is computed, in one place, from
                // the stage results (coarse peak strengths and chain, landmarks per view and track lengths, the solve's residual
                // and parameters), before the long apply and reconstruct stages.
                AssessQuality(run);
            }
            outcomes.Add(RunStage(run, stage, ref upstream, ref redoneFrom));
        }
        if (!spec.Reconstructs) AssessQuality(run);   // align only: the same point, after the last alignment stage
        WriteExports(run, userStack);

        if (spec.Resume)
        {
            report.Resume = new
            {
                reused = outcomes.Where(o => o.Status == StageStatus.Reused).Select(o => o.Name).ToArray(),
                redone = outcomes.Where(o => o.Status == StageStatus.Redone).Select(o => o.Name).ToArray(),
                stages = outcomes.Select(o => new { name = o.Name, status = o.Status.ToString().ToLowerInvariant(), reason = o.Reason, fingerprint = o.Fingerprint }).ToArray(),
            };
            context.Log.LogInformation("resume: reused {Reused}; redone {Redone}",
                Join(outcomes.Where(o => o.Status == StageStatus.Reused)), Join(outcomes.Where(o => o.Status == StageStatus.Redone)));
        }
        return new PipelineResult(spec, report, run.Alignment(), outcomes)
        {
            Aligned = spec.Reconstructs ? spec.OutputPath(".ali") : null,
            Volume = spec.Reconstructs ? spec.OutputPath(".rec") : null,
            Summary = run.Summary,
            Command = command,
            Quality = run.Quality ?? throw new InvalidOperationException("the pipeline ended without a quality verdict"),
            Preparation = prepared,
        };

        static string Join(IEnumerable<StageOutcome> o) => o.Any() ? string.Join(", ", o.Select(x => x.Name)) : "none";
    }

    /// <summary>
    /// The series' metadata (<see cref="SeriesMetadata.Resolve"/>), recorded in the report (results.acquisition). Without an angle
    /// file, the angles found are written to OUT/NAME.rawtlt and the spec refers to it; with the tilt axis asked from the metadata
    /// (--tilt-axis not given, or mdoc), the spec takes the mdoc's or header's axis, or it is an input error naming the fix.
    /// </summary>
    private static SeriesMetadata ResolveMetadata(ref PipelineSpec spec, ILogger log, RunReport report)
    {
        int views;
        using (var reader = MrcReader.Open(spec.Stack)) views = reader.Nz;
        var metadata = SeriesMetadata.Resolve(spec.Stack, spec.Angles, spec.Mdoc, views);
        foreach (var w in metadata.Warnings) { log.LogWarning("{Warning}", w); report.Warnings.Add(w); }
        if (string.IsNullOrWhiteSpace(spec.Angles))
        {
            Directory.CreateDirectory(spec.Out);
            string written = spec.OutputPath(".rawtlt");
            ImodText.WriteAngles(written, metadata.Tilts);
            log.LogInformation("tilt angles from the {Source}: written to {File}", metadata.AnglesSource, written);
            spec = spec with { Angles = written, Name = spec.BaseName };
            report.Outputs.Add(Path.GetFullPath(written));
        }
        if (spec.TiltAxisFromMetadata)
        {
            if (metadata.TiltAxis is not { } axis)
                throw new TomalignInputException(spec.Mdoc ?? spec.Stack,
                    metadata.MdocFiles.Count > 0 ? "the mdoc gives no tilt axis angle (no \"Tilt axis angle\" in a [T = …] line)" : "no tilt axis was given and no mdoc or header gives one",
                    "give --tilt-axis DEGREES (IMOD's rotation angle), or --tilt-axis auto to search it");
            log.LogInformation("tilt axis {Axis:F2}° from {Source}", axis, metadata.MdocFiles.Count > 0 ? "the mdoc" : "the MRC extended header");
            spec = spec with { TiltAxis = axis, TiltAxisFromMetadata = false };
        }
        report.Results["acquisition"] = metadata.ToReport();
        return metadata;
    }

    /// <summary>
    /// The files for the next programs (<see cref="AlignmentExport"/>): NAME.tilt.com for IMOD's tilt, relion/tomograms.star and
    /// relion/tilt_series/NAME.star for RELION 5, warp/NAME/ for WarpTools. Cheap text files, written after every run.
    /// </summary>
    private static void WriteExports(PipelineRun run, string userStack)
    {
        var (spec, report) = (run.Spec, run.Report);
        var series = ExportSeriesOf(spec, run.Solve ?? throw new InvalidOperationException("no solve to export"), ImodText.ReadXf(run.P(".xf")),
            run.Nx, run.Ny, run.Metadata, run.Preparation, userStack);
        var notes = new List<string>();
        var files = AlignmentExport.WriteAll(series, spec.Out, notes);
        report.Outputs.AddRange(files.Select(Path.GetFullPath));
        report.Results["exports"] = new { files = files.Select(Path.GetFullPath).ToArray(), notes, pixelSizeAngstrom = series.PixelSizeAngstrom };
        foreach (var n in notes) run.Log.LogInformation("exports: {Note}", n);
        run.Log.LogInformation("exports: {TiltCom} (IMOD tilt), {Relion} (RELION 5), {Warp} (WarpTools)", spec.OutputPath(".tilt.com"),
            Path.Combine(spec.Out, "relion", "tomograms.star"), Path.Combine(spec.Out, "warp", spec.BaseName));
    }

    /// <summary>
    /// The export description of an alignment: the transforms and solved tilts of the stack the stages aligned, the pixel size
    /// (the stack's header, else the mdoc's), dose and nominal angles mapped from the user's views, and the user's stack when
    /// views were sorted or left out.
    /// </summary>
    public static ExportSeries ExportSeriesOf(PipelineSpec spec, Solve.SolveResult solve, Geometry.Xf[] xf, int nx, int ny,
        SeriesMetadata? metadata, PreparedSeries? preparation, string userStack)
    {
        double headerPixel;
        using (var r = MrcReader.Open(spec.Stack)) headerPixel = r.Header.PixelSizeX;
        double pixel = Math.Abs(headerPixel - 1) > 1e-6 ? headerPixel : metadata?.PixelSizeAngstrom ?? headerPixel;
        bool prepared = preparation is { Unchanged: false };
        int[] inputViews = prepared ? preparation!.InputViews : Enumerable.Range(0, xf.Length).ToArray();
        bool mapped = metadata is not null && inputViews.All(v => v < metadata.Tilts.Length);
        int thickness = spec.Thickness ?? Math.Max(2, Math.Min(nx, ny) / 4 / 2 * 2);
        return new ExportSeries
        {
            Name = spec.BaseName,
            Stack = spec.Stack,
            Nx = nx, Ny = ny,
            Xf = xf,
            Tilts = solve.Views.Select(v => v.TiltDegrees).ToArray(),
            XAxisTilts = solve.Views.Select(v => v.XAxisTiltDegrees).ToArray(),
            PixelSizeAngstrom = pixel,
            VoltageKv = metadata?.VoltageKv,
            PreExposure = mapped && metadata!.PreExposure is { } pre ? inputViews.Select(v => pre[v]).ToArray() : null,
            NominalTilts = mapped ? inputViews.Select(v => metadata!.Tilts[v]).ToArray() : null,
            NominalTiltAxis = metadata?.TiltAxis ?? spec.TiltAxis,
            Thickness = thickness,
            ThicknessGuessed = spec.Thickness is null,
            Bin = spec.Bin,
            Log = spec.Log,
            Tomogram = spec.Reconstructs ? spec.OutputPath(".rec") : null,
            InputStack = prepared ? userStack : null,
            InputNz = prepared && metadata is not null ? metadata.Tilts.Length : 0,
            InputViews = prepared ? inputViews : null,
            Excluded = prepared ? preparation!.Excluded.Select(e => (e.View, e.Tilt)).ToArray() : [],
        };
    }

    /// <summary>
    /// The quality verdict, computed in this one place for every run from what the stages measured: the coarse result
    /// (when the coarse stage ran in this run), the prealignment, the landmarks and the solve, and, for beads tracked in
    /// this run, the bead-centre precision the images allow. It goes into the report (JSON `quality`, the HTML page's top).
    /// </summary>
    private static void AssessQuality(PipelineRun run)
    {
        var solve = run.Solve ?? throw new InvalidOperationException("no solve to assess");
        double? centring = !run.Spec.Markerless && run.Spec.BeadDiameter is { } d && run.Prealigned is not null && run.Observations.Count > 0
            ? Quality.CentringPrecision.BeadBound(run.Prealigned, run.Observations, d) : null;
        if (centring is { } c) run.Report.Results["beadCentringBoundPixels"] = c;
        var signals = Quality.QualitySignals.From(run.Nx, run.Ny, run.Tilts, run.TiltAxis, run.Coarse, run.Prexg, solve,
            run.Spec.Markerless ? Quality.LandmarkKind.Patches : Quality.LandmarkKind.Beads, run.Spec.Markerless ? null : run.Spec.BeadDiameter,
            expectedCentringSigmaPixels: centring);
        if (run.Spec.Markerless && run.Patches is { } patches)
            signals = signals with
            {
                LandmarkSizePixels = patches.PatchSize,
                PatchLinkResidualPixels = double.IsFinite(patches.LinkResidualPixels) ? patches.LinkResidualPixels : null,
                PatchMedianPeakSnr = double.IsFinite(patches.MedianPeakSnr) && patches.MedianPeakSnr > 0 ? patches.MedianPeakSnr : null,
            };
        var verdict = Quality.QualityAssessor.Assess(signals);
        // What the bead tracker itself found wrong (views it could not place, a prealignment beyond its reach) and the views
        // the preparation left out join the verdict here.
        var extra = new List<Quality.QualityReason>();
        if (run.Beads is { Reliable: false } beads)
            extra.Add(new Quality.QualityReason("bead-tracking", Quality.Verdict.Unreliable, "bead tracking: " + string.Join("; ", beads.Problems)));
        if (run.Preparation is { Excluded.Count: > 0 } prep)
            extra.Add(new Quality.QualityReason("excluded-views", Quality.Verdict.Good,
                $"{prep.Excluded.Count} view(s) left out before the alignment: " + string.Join("; ", prep.Excluded.Select(e => $"view {e.View + 1} ({e.Tilt:F1}°) {e.Reason}"))));
        if (extra.Count > 0)
            verdict = verdict with
            {
                Verdict = extra.Select(r => r.Severity).Append(verdict.Verdict).Max(),
                Reasons = extra.Concat(verdict.Reasons).OrderByDescending(r => r.Severity).ToArray(),
            };
        run.Quality = verdict;
        run.Report.Quality = run.Quality;
        run.Log.LogDebug("quality: {Verdict}, {Reasons} reason(s)", run.Quality.Name, run.Quality.Reasons.Count);
    }

    /// <summary>NAME.COMMAND.EXT of every report writer of the context (the HTML page), then NAME.COMMAND.json.</summary>
    public static void WriteReports(PipelineResult result, PipelineContext context)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(context);
        foreach (var writer in context.ReportWriters)
        {
            string path = result.Spec.OutputPath($".{result.Command}{writer.Extension}");
            result.Report.Outputs.Add(Path.GetFullPath(path));
            writer.Write(path, result);
        }
        result.Report.Write(result.Spec.OutputPath($".{result.Command}.json"));
    }

    private static readonly JsonSerializerOptions ResultJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>One stage: reused when --resume and its record match, otherwise done (and recorded).</summary>
    private static StageOutcome RunStage(PipelineRun run, PipelineStage stage, ref string? upstream, ref string? redoneFrom)
    {
        var (spec, report, log) = (run.Spec, run.Report, run.Context.Log);
        run.Context.Cancel.ThrowIfCancellationRequested();
        var inputs = new JsonObject();
        foreach (var (key, path) in stage.Inputs(run)) inputs[key] = FileIdentity.Of(path).ToJson(path);
        var options = stage.Options(run);
        string fingerprint = StageRecord.FingerprintOf(stage.Name, upstream, inputs, options);
        string? before = upstream;
        upstream = fingerprint;
        string? reason = null;
        if (spec.Resume)
        {
            var record = run.Ledger.Find(stage.Name);
            reason = redoneFrom is not null ? $"the {redoneFrom} stage before it was redone" : WhyNotReusable(run, stage, record, fingerprint, before, inputs, options);
            if (reason is null)
            {
                try
                {
                    stage.Reuse(run, record!);
                    foreach (var (key, value) in record!.Results) report.Results[key] = value?.DeepClone();
                    report.Warnings.AddRange(record.Warnings.Select(w => w?.GetValue<string>()).OfType<string>());
                    report.Outputs.AddRange(stage.Outputs(run).Select(Path.GetFullPath));
                    log.LogInformation("resume: {Stage} reused (made {When:u} from the same input and options)", stage.Name, record.CompletedUtc);
                    return new StageOutcome(stage.Name, StageStatus.Reused, fingerprint, null);
                }
                catch (TomalignInputException e)
                {
                    reason = $"its outputs could not be read back ({e.Problem})";
                }
            }
            redoneFrom = stage.Name;
            log.LogInformation("resume: {Stage} redone: {Reason}", stage.Name, reason);
        }

        var resultsBefore = report.Results.ToDictionary(kv => kv.Key, kv => kv.Value);
        int warningsBefore = report.Warnings.Count;
        stage.Execute(run);
        var results = new JsonObject();
        foreach (var (key, value) in report.Results)
            if (!resultsBefore.TryGetValue(key, out var old) || !ReferenceEquals(old, value))
                results[key] = value is JsonNode node ? node.DeepClone() : JsonSerializer.SerializeToNode(value, ResultJson);
        var warnings = new JsonArray(report.Warnings.Skip(warningsBefore).Select(w => (JsonNode?)JsonValue.Create(w)).ToArray());
        string stageName = stage.Name, fp = fingerprint;
        string? up = before;
        var outputPaths = stage.Outputs(run).ToArray();
        void Record()
        {
            var outputs = new JsonObject();
            foreach (string path in outputPaths)
                if (File.Exists(path)) outputs[Path.GetFileName(path)] = FileIdentity.Of(path).ToJson();
            run.Ledger.Record(new StageRecord(stageName, fp, up, inputs, options, outputs, results, warnings, DateTimeOffset.UtcNow));
        }
        if (stage.RecordsLater(run)) run.PendingRecord = Record;
        else Record();
        return new StageOutcome(stage.Name, spec.Resume ? StageStatus.Redone : StageStatus.Run, fingerprint, reason);
    }

    /// <summary>Null when the stage's record matches and its outputs are as it wrote them; otherwise why not, in words.</summary>
    private static string? WhyNotReusable(PipelineRun run, PipelineStage stage, StageRecord? record, string fingerprint, string? upstream,
        JsonObject inputs, JsonObject options)
    {
        if (record is null) return $"no record of it in {Path.GetFileName(run.Ledger.Path)}";
        if (record.Fingerprint != fingerprint)
        {
            var changes = new List<string>();
            foreach (var (key, value) in inputs)
                if (FileIdentity.FromJson(value) != FileIdentity.FromJson(record.Inputs[key]))
                    changes.Add($"the {key} file is not the one it was made from ({value?["path"]})");
            foreach (string key in options.Select(kv => kv.Key).Union(record.Options.Select(kv => kv.Key)))
                if (!JsonNode.DeepEquals(options[key], record.Options[key]))
                    changes.Add($"{key} changed ({record.Options[key]?.ToJsonString() ?? "none"} → {options[key]?.ToJsonString() ?? "none"})");
            if (changes.Count == 0 && record.Upstream != upstream) changes.Add("an earlier stage is not the one it was made from");
            return changes.Count > 0 ? string.Join("; ", changes) : "its record does not match";
        }
        foreach (string path in stage.Outputs(run))
        {
            string file = Path.GetFileName(path);
            if (!File.Exists(path)) return $"{file} is missing";
            if (FileIdentity.FromJson(record.Outputs[file]) != FileIdentity.Of(path)) return $"{file} changed since the stage wrote it";
        }
        return null;
    }

    // ------------------------------------------------------------------ helpers shared with the single-stage commands

    /// <summary>The given tilt axis, or the one the coarse correlation finds (logged, and recorded in the report).</summary>
    public static double ResolveTiltAxis(double? given, CoarseAligner aligner, ImageStack stack, double[] tilts, ILogger log, RunReport report)
    {
        if (given is { } a) return a;
        var found = report.Stage("tilt-axis search", () => TiltAxisSearch.Find(aligner, stack, tilts));
        log.LogInformation("tilt axis: {Angle:F2}° found by the coarse correlation ({Count} angles tried; {Note})",
            found.AngleDegrees, found.Scores.Count, TiltAxisSearchResult.Ambiguity);
        report.Results["tiltAxisSearch"] = new { angle = found.AngleDegrees, note = TiltAxisSearchResult.Ambiguity, scores = found.Scores.Select(x => new[] { x.Angle, x.Score }).ToArray() };
        report.Warnings.Add($"tilt axis searched: {found.AngleDegrees:F2}°; {TiltAxisSearchResult.Ambiguity}");
        return found.AngleDegrees;
    }

    /// <summary>
    /// The tilt-axis search with one progress line: each correlation batch is a step, and the coarse stage's own log
    /// lines (about 20 of them) go to debug.
    /// </summary>
    public static double ResolveTiltAxis(double? given, IPairCorrelator correlator, ImageStack stack, double[] tilts, ILogger log, RunReport report,
        IProgress<double> progress)
    {
        if (given is { } a) return a;
        var counting = new CountingCorrelator(correlator, progress, ExpectedSearchBatches);
        double found = ResolveTiltAxis(null, new CoarseAligner(counting, new DemotedLogger(log)), stack, tilts, log, report);
        progress.Report(1);
        return found;
    }

    /// <summary>About how many correlation batches the tilt-axis search runs (12 coarse angles, 8 fine, 1–2 more): its progress scale.</summary>
    private const int ExpectedSearchBatches = 21;

    /// <summary>A pair correlator that reports each batch as a step of progress (at most 99 % until its caller says it is done).</summary>
    private sealed class CountingCorrelator(IPairCorrelator inner, IProgress<double> progress, int expected) : IPairCorrelator
    {
        private int _calls;

        public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
            ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
        {
            var peaks = inner.Correlate(views, nx, ny, nz, statistics, pairs, settings);
            progress.Report(Math.Min(0.99, ++_calls / (double)expected));
            return peaks;
        }
    }

    /// <summary>A logger that passes information as debug (the inner steps of a search shown as one progress line).</summary>
    private sealed class DemotedLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);
        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(Demote(logLevel));
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(Demote(logLevel), eventId, state, exception, formatter);
        private static LogLevel Demote(LogLevel level) => level == LogLevel.Information ? LogLevel.Debug : level;
    }

    /// <summary>The stack warped by the coarse transforms (linear interpolation, views' means outside).</summary>
    public static ImageStack Prealign(IComputeBackend backend, ImageStack data, Geometry.Xf[] prexg)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(data);
        var pre = new ImageStack(data.Nx, data.Ny, data.Nz);
        var fill = data.ViewMeans();
        backend.Warper.Warp(data.Data, data.Nx, data.Ny, data.Nz, prexg, fill, new WarpOptions(1, Interpolation.Linear), pre.Data);
        return pre;
    }

    /// <summary>
    /// Reconstructs from the aligned stack in memory while a background task writes it to its file. The tomogram is
    /// committed only once the aligned stack is written; if writing it fails, the reconstruction stops and that error
    /// is thrown (no tomogram, no temporary files). The aligned stack is finished whatever the reconstruction does,
    /// as it was when it was written before the reconstruction began: a failed or cancelled reconstruction (which
    /// stops between slabs) leaves the whole NAME.ali, and no tomogram, for --resume. <paramref name="written"/> is
    /// called (on the writing task) once the aligned stack is written whole.
    /// </summary>
    public static ReconstructionSummary ReconstructWhileWriting(IComputeBackend backend, ILogger log, IProgress<double>? progress,
        ApplyTransforms.AlignedStack aligned, IReadOnlyList<double> tilts, string rec, ReconstructionOptions recOptions, CancellationToken cancel,
        Action? written = null)
    {
        ArgumentNullException.ThrowIfNull(aligned);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double writeSeconds = 0;
        var writing = Task.Run(() =>
        {
            try { aligned.Write(); writeSeconds = clock.Elapsed.TotalSeconds; }
            catch { stop.Cancel(); throw; }   // stop the reconstruction too: the run has failed
            try { written?.Invoke(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogWarning("the aligned stack {File} is written but could not be recorded for --resume: {Message}", aligned.OutputPath, e.Message);
            }
        });
        try
        {
            var summary = new Reconstructor(backend, log).Run(aligned.Stack, aligned.StoredPixelSizeX, aligned.OutputPath, tilts, rec, recOptions,
                progress, stop.Token, beforeCommit: () => writing.GetAwaiter().GetResult());
            log.LogDebug("apply: {File} written in {Seconds:F2} s beside the reconstruction", aligned.OutputPath, writeSeconds);
            return summary;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            // Stopped by the failed write, not by the caller: its error is the one to report.
            writing.GetAwaiter().GetResult();
            throw;
        }
        finally
        {
            try { writing.Wait(); }
            catch (Exception) { /* already thrown above, or secondary to the reconstruction's own error */ }
        }
    }
}
