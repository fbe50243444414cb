using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Beads;
using Tomalign.Core.Coarse;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;
using Tomalign.Core.Patches;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// What a caller gives a run besides its <see cref="PipelineSpec"/>: logging, progress, cancellation, a watcher of
/// stage starts, the report's name and command line, and the writers of extra reports (the HTML page of
/// Tomalign.Reporting). One object, so that the command line, the service and a user's own program drive the
/// pipeline the same way.
/// </summary>
public sealed class PipelineContext
{
    /// <summary>Where the stages log.</summary>
    public ILogger Log { get; init; } = NullLogger.Instance;

    /// <summary>A progress sink for a labelled piece of work (fractions 0–1); default: none.</summary>
    public Func<string, IProgress<double>> Progress { get; init; } = _ => NoProgress.Instance;

    /// <summary>Stops the run: checked at every stage boundary and inside the long stages (reading, reconstruction).</summary>
    public CancellationToken Cancel { get; init; }

    /// <summary>Told the name of each timed stage as it starts (the job service shows it as the job's stage).</summary>
    public Action<string>? StageStarted { get; init; }

    /// <summary>The report's command (NAME.COMMAND.json): null: "run" when the specification reconstructs, else "align".</summary>
    public string? Command { get; init; }

    /// <summary>The command line recorded in the report; null: <see cref="PipelineSpec.ToArguments"/>.</summary>
    public IReadOnlyList<string>? Arguments { get; init; }

    /// <summary>The report to record into (a caller that timed its own steps first, as `demo` its simulation); null: a new one.</summary>
    public RunReport? Report { get; init; }

    /// <summary>Reports written beside NAME.COMMAND.json by <see cref="TiltSeriesPipeline.WriteReports"/> (e.g. Tomalign.Reporting's HTML page).</summary>
    public IReadOnlyList<IRunReportWriter> ReportWriters { get; init; } = [];

    private sealed class NoProgress : IProgress<double>
    {
        public static readonly NoProgress Instance = new();
        public void Report(double value) { }
    }
}

/// <summary>A report beside the JSON one (e.g. the HTML page): written to NAME.COMMAND + <see cref="Extension"/>.</summary>
public interface IRunReportWriter
{
    /// <summary>The file extension, with its dot (".html").</summary>
    string Extension { get; }

    void Write(string path, PipelineResult result);
}

/// <summary>How a stage of the run was treated.</summary>
public enum StageStatus
{
    /// <summary>Done in this run (no --resume).</summary>
    Run,
    /// <summary>Its record matched (same input, same options, same upstream stages, outputs unchanged): its outputs were read back.</summary>
    Reused,
    /// <summary>--resume, but its record did not match (see the reason): done again.</summary>
    Redone,
}

/// <summary>One stage of a run: what was done with it, and why.</summary>
public sealed record StageOutcome(string Name, StageStatus Status, string Fingerprint, string? Reason);

/// <summary>
/// What the alignment stages produced: the files the next stages read, and the stage results themselves (for the
/// report, the plots and the quality verdict). <see cref="Coarse"/>, <see cref="Beads"/> and <see cref="Patches"/> are
/// null where the stage was reused (its numbers are then in the report's results) or does not apply.
/// </summary>
public sealed record AlignmentOutcome(string Prexg, string Fid, string Xf, string Tlt, SolveResult Solve, CoarseAlignResult? Coarse,
    double[] NominalTilts, double TiltAxis, int Width, int Height)
{
    /// <summary>The landmark observations the solve used (prealigned coordinates).</summary>
    public IReadOnlyList<LandmarkObservation> Landmarks { get; init; } = [];
    public BeadTrackResult? Beads { get; init; }
    public PatchTrackResult? Patches { get; init; }
    /// <summary>The coarse correlation's peak strength per neighbour pair (also when the coarse stage was reused).</summary>
    public IReadOnlyList<double>? CoarseStrengths { get; init; }
    /// <summary>The local alignments (--local), when they were solved in this run.</summary>
    public LocalSolution? Local { get; init; }
}

/// <summary>The result of a whole run: the specification, its report, the alignment, and the aligned stack and tomogram when asked for.</summary>
public sealed record PipelineResult(PipelineSpec Spec, RunReport Report, AlignmentOutcome Align, IReadOnlyList<StageOutcome> Stages)
{
    /// <summary>NAME.ali (null: align only).</summary>
    public string? Aligned { get; init; }
    /// <summary>NAME.rec (null: align only).</summary>
    public string? Volume { get; init; }
    public ReconstructionSummary? Summary { get; init; }
    /// <summary>The report's command: align, run, demo.</summary>
    public string Command { get; init; } = "run";
    /// <summary>The alignment's quality verdict (also in the report).</summary>
    public required Quality.QualityVerdict Quality { get; init; }
    /// <summary>What the preparation did to the user's views (sorted, left out); the reports mark those views.</summary>
    public PreparedSeries? Preparation { get; init; }
}
