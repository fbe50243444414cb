using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Quality;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// The quality verdict after the solve (the one place align, run, demo and serve jobs compute it): from the coarse
    /// result, the .prexg the landmarks were measured on and the solve; recorded in the report (JSON `quality`, the HTML
    /// page's top). The console gets it from <see cref="FinishWithVerdict"/>, a serve job's log from the worker.
    /// </summary>
    internal static QualityVerdict AssessQuality(CliContext ctx, RunReport report, int width, int height, double[] nominalTilts, double tiltAxis,
        CoarseAlignResult? coarse, Xf[] prexg, SolveResult solve, bool markerless, double? beadDiameter, ImageStack? prealigned,
        IReadOnlyList<LandmarkObservation> observations)
    {
        // The bead-centre precision the images allow (beads tracked in this run only: the stack they were measured on).
        double? centring = !markerless && beadDiameter is { } d && prealigned is not null ? CentringPrecision.BeadBound(prealigned, observations, d) : null;
        if (centring is { } c) report.Results["beadCentringBoundPixels"] = c;
        var signals = QualitySignals.From(width, height, nominalTilts, tiltAxis, coarse, prexg, solve,
            markerless ? LandmarkKind.Patches : LandmarkKind.Beads, markerless ? null : beadDiameter, expectedCentringSigmaPixels: centring);
        var verdict = QualityAssessor.Assess(signals);
        report.Quality = verdict;
        ctx.Log.LogDebug("quality: {Verdict}, {Reasons} reason(s)", verdict.Name, verdict.Reasons.Count);
        return verdict;
    }

    /// <summary>
    /// The end of a command that aligned: the verdict and one line per reason on stdout, then <paramref name="success"/>
    /// (e.g. "Aligned …") or, for an unreliable alignment, "Alignment UNRELIABLE: …" and <see cref="ExitCodes.Unreliable"/>
    /// (the outputs are written before, so that they can be inspected).
    /// </summary>
    internal static int FinishWithVerdict(CliContext ctx, QualityVerdict verdict, string success, string outputs)
    {
        ctx.Out.WriteLine($"Quality: {verdict.Name}");
        foreach (var r in verdict.Reasons) ctx.Out.WriteLine($"  {r}");
        if (verdict.Verdict == Verdict.Unreliable)
        {
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Alignment UNRELIABLE: {verdict.Summary()["unreliable: ".Length..]}. The outputs are written for inspection only: {outputs}"));
            return ExitCodes.Unreliable;
        }
        ctx.Out.WriteLine(success);
        return ExitCodes.Ok;
    }
}
