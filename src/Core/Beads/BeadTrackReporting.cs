using Tomalign.Core.Reporting;

namespace Tomalign.Core.Beads;

/// <summary>How `track` and the pipeline's landmark stage report a bead tracking: its measures of trust in the run report, and the error when there is nothing to track.</summary>
public static class BeadTrackReporting
{
    /// <summary>The error for a series where the bead check or the seeding found nothing to track: the check's own problem and fix.</summary>
    public static TomalignInputException Failure(string input, BeadTrackResult result, string otherwise) =>
        result.Presence is { Problem: { } problem, Fix: { } fix }
            ? new TomalignInputException(input, problem, fix)
            : new TomalignInputException(input, "no gold bead was found on the view nearest zero tilt",
                $"check --bead-diameter (pixels of this stack) and --light-beads, or {otherwise}");

    /// <summary>The bead tracker's measures of trust into the report (NAME.track.json, NAME.align.json): the quality verdict reads them.</summary>
    public static void WriteMeasures(RunReport report, BeadTrackResult result)
    {
        report.Results["seeded"] = result.Seeded;
        report.Results["observations"] = result.Observations.Count;
        report.Results["meanTrackLength"] = result.MeanTrackLength;
        report.Results["referenceView"] = result.ReferenceView;
        if (result.Presence is { } c)
            report.Results["beadCheck"] = new
            {
                givenDiameter = c.GivenDiameter, contrast = c.Contrast, bestDiameter = c.BestDiameter, bestContrast = c.BestContrast,
                presence = c.Presence.ToString(), oppositePolarity = c.OppositePolarity, problem = c.Problem, fix = c.Fix,
                scan = c.Scan.Select(s => new { diameter = s.Diameter, contrast = s.Contrast, oppositeContrast = s.OppositeContrast }).ToArray(),
            };
        report.Results["beadsPerView"] = result.BeadsPerView;
        report.Results["beadCoverage"] = result.Coverage;
        report.Results["thinViews"] = result.ThinViews;
        report.Results["trackLengths"] = result.TrackLengths;
        report.Results["longTracks"] = result.LongTracks;
        report.Results["beadSurfaces"] = new { bottom = result.Surfaces.Bottom, top = result.Surfaces.Top };
        report.Results["prealignmentCorrections"] = result.PrealignmentCorrections.Select(v => double.IsFinite(v) ? v : (double?)null).ToArray();
        report.Results["beadSearchReach"] = result.SearchReach;
        report.Results["beadRetried"] = result.Retried;
        report.Results["beadModelRms"] = result.ModelRms;
        report.Results["beadProblems"] = result.Problems;
        report.Results["beadsReliable"] = result.Reliable;
    }
}
