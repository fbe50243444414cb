using System.CommandLine;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// <c>--exclude-views</c> on a single-stage command (IMOD's 1-based list, EXCLUDELIST style); <paramref name="effect"/>
    /// says what leaving a view out means for that command (tiltxcorr's and beadtrack's SkipViews, newstack -exclude,
    /// tilt's EXCLUDELIST).
    /// </summary>
    internal static Option<string?> ExcludeViewsOption(string effect) => new("--exclude-views")
    {
        Description = $"Views to leave out, 1-based as in IMOD (e.g. 1-3,40): {effect}",
    };

    /// <summary>The 0-based views of a <c>--exclude-views</c> list for a stack of <paramref name="viewCount"/> views (none when not given).</summary>
    internal static int[] ExcludedViews(string? list, int viewCount) =>
        string.IsNullOrWhiteSpace(list) ? [] : ViewScreening.ParseViewList(list, viewCount);

    /// <summary>
    /// The views of <paramref name="stack"/> not in <paramref name="excluded"/>, with their tilts, and for each of them its
    /// view in the whole stack; the stack itself when nothing is excluded.
    /// </summary>
    internal static (ImageStack Stack, double[] Tilts, int[] Views) KeepViews(ImageStack stack, double[] tilts, int[] excluded, string input)
    {
        int[] keep = ViewScreening.KeptViews(excluded, stack.Nz);
        if (excluded.Length == 0) return (stack, tilts, keep);
        if (keep.Length < 3)
            throw new Tomalign.Core.TomalignInputException(input, $"only {keep.Length} of its {stack.Nz} views are left after --exclude-views",
                "exclude fewer views");
        var sub = new ImageStack(stack.Nx, stack.Ny, keep.Length);
        for (int k = 0; k < keep.Length; k++) stack.ReadView(keep[k]).CopyTo(sub.View(k));
        return (sub, keep.Select(v => tilts[v]).ToArray(), keep);
    }

    /// <summary>Observations on a stack of kept views, renumbered to the views of the whole stack.</summary>
    internal static IReadOnlyList<LandmarkObservation> ToWholeStack(IReadOnlyList<LandmarkObservation> observations, int[] views) =>
        observations.Select(o => o with { View = views[o.View] }).ToArray();

    /// <summary>Records the excluded views (1-based) in a report.</summary>
    internal static void ReportExcluded(RunReport report, int[] excluded)
    {
        if (excluded.Length > 0) report.Results["excludedViews"] = excluded.Select(v => v + 1).ToArray();
    }
}
