using System.Globalization;
using System.Net;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using Tomalign.Core.Imaging;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Quality;

namespace Tomalign.Core.Reporting;

/// <summary>The state of one view of the user's stack in a report (DESIGN.md: views are good, excluded or unsolved).</summary>
internal enum ViewState { Good, Few, Unsolved, Blank, Excluded }

/// <summary>One row of the per-view table: a view of the user's stack, aligned (<see cref="Aligned"/>) or left out before the alignment.</summary>
internal sealed record ViewRow(double Tilt, int? StackView, int? Aligned, ViewState State, string Why, bool Moved);

/// <summary>
/// Which views a report marks, from the quality verdict (unsolved views, views with few landmarks, blank views the coarse
/// chain bridged; aligned view indexes) and the preparation (views left out by --exclude-views or the screening, with their
/// reasons; views sorted from acquisition order; indexes of the user's stack).
/// </summary>
internal sealed class ViewStates
{
    private static readonly OxyColor ExcludedFill = OxyColor.FromAColor(90, OxyColors.Gray);
    private static readonly OxyColor UnsolvedFill = OxyColor.FromAColor(70, OxyColors.Red);
    private static readonly OxyColor BlankFill = OxyColor.FromAColor(50, OxyColors.Gray);
    /// <summary>Above this many views of a kind, only the first band carries its label (the labels would overlap).</summary>
    private const int MaxLabels = 6;

    private ViewStates(HashSet<int> unsolved, HashSet<int> few, HashSet<int> blank, IReadOnlyList<ExcludedView> excluded, int[]? inputViews, bool sorted)
    {
        Unsolved = unsolved; Few = few; Blank = blank; Excluded = excluded; InputViews = inputViews; Sorted = sorted;
    }

    /// <summary>Aligned views the solve left at their start values (no landmark).</summary>
    public HashSet<int> Unsolved { get; }
    /// <summary>Aligned views with fewer landmarks than <see cref="QualityAssessor.FewLandmarksPerView"/>.</summary>
    public HashSet<int> Few { get; }
    /// <summary>Aligned views the coarse stage found blank and bridged.</summary>
    public HashSet<int> Blank { get; }
    /// <summary>Views of the user's stack left out before the alignment, with why.</summary>
    public IReadOnlyList<ExcludedView> Excluded { get; }
    /// <summary>The user's stack view of each aligned view (null: the same index).</summary>
    public int[]? InputViews { get; }
    /// <summary>The user's views were not in tilt order.</summary>
    public bool Sorted { get; }

    public static ViewStates Of(QualityVerdict? quality, IReadOnlyList<double> nominalTilts, PreparedSeries? preparation)
    {
        var few = quality?.Find("few-landmarks").SelectMany(r => r.Views) ?? [];
        return new ViewStates(new HashSet<int>(quality?.UnsolvedViews ?? []), new HashSet<int>(few), new HashSet<int>(quality?.ExcludedViews ?? []),
            preparation?.Excluded ?? [], preparation is { InputViews.Length: > 0 } p && p.InputViews.Length == nominalTilts.Count ? p.InputViews : null,
            preparation?.Sorted ?? false);
    }

    public static string Name(ViewState s) => s switch
    {
        ViewState.Excluded => "excluded",
        ViewState.Unsolved => "unsolved",
        ViewState.Blank => "blank",
        ViewState.Few => "few landmarks",
        _ => "good",
    };

    private ViewState StateOf(int aligned) =>
        Unsolved.Contains(aligned) ? ViewState.Unsolved : Blank.Contains(aligned) ? ViewState.Blank : Few.Contains(aligned) ? ViewState.Few : ViewState.Good;

    private static string Problem(ViewProblem p) => p switch
    {
        ViewProblem.Dark => "dark",
        ViewProblem.Overexposed => "overexposed",
        ViewProblem.NoStructure => "no structure",
        ViewProblem.UserExcluded => "--exclude-views",
        _ => p.ToString(),
    };

    /// <summary>Every view of the user's stack, in tilt order.</summary>
    public IReadOnlyList<ViewRow> Rows(IReadOnlyList<double> nominalTilts)
    {
        var rows = new List<(double Tilt, int? Stack, int? Aligned, ViewState State, string Why)>();
        for (int i = 0; i < nominalTilts.Count; i++)
        {
            var state = StateOf(i);
            string why = state switch
            {
                ViewState.Unsolved => "no landmarks: its geometry is the coarse alignment's and the start values",
                ViewState.Blank => "blank: the coarse chain bridged it",
                ViewState.Few => $"fewer than {QualityAssessor.FewLandmarksPerView} landmarks: nothing checks its own unknowns",
                _ => "",
            };
            rows.Add((nominalTilts[i], InputViews is { } iv ? iv[i] : i, i, state, why));
        }
        foreach (var e in Excluded)
            rows.Add((e.Tilt, e.View, null, ViewState.Excluded, e.Reason.StartsWith(Problem(e.Problem), StringComparison.Ordinal) ? e.Reason : $"{Problem(e.Problem)}: {e.Reason}"));
        var ordered = rows.OrderBy(r => r.Tilt).ThenBy(r => r.Stack).ToList();
        return ordered.Select((r, k) => new ViewRow(r.Tilt, r.Stack, r.Aligned, r.State, r.Why, Sorted && r.Stack != k)).ToArray();
    }

    /// <summary>True when a view left out before the alignment lies between two tilts (a curve must not bridge it).</summary>
    public bool GapBetween(double a, double b) => Excluded.Any(e => e.Tilt > Math.Min(a, b) && e.Tilt < Math.Max(a, b));

    /// <summary>Text appended to the per-view plots' captions, naming the marks they carry.</summary>
    public string Caption
    {
        get
        {
            var parts = new List<string>();
            if (Excluded.Count > 0) parts.Add("grey bands: views left out");
            if (Unsolved.Count > 0) parts.Add("red bands: unsolved views (no curve)");
            if (Blank.Count > 0) parts.Add("light grey bands: blank views");
            if (Few.Count > 0) parts.Add("orange triangles: views with few landmarks");
            return parts.Count > 0 ? " — " + string.Join("; ", parts) : "";
        }
    }

    /// <summary>A band at each excluded, unsolved and blank view, labelled; the x axis spans every view of the stack.</summary>
    public PlotModel Mark(PlotModel m, IReadOnlyList<double> nominalTilts)
    {
        var all = nominalTilts.Concat(Excluded.Select(e => e.Tilt)).Order().ToArray();
        if (all.Length == 0) return m;
        var steps = all.Zip(all.Skip(1), (a, b) => b - a).Where(d => d > 0).Order().ToArray();
        double half = steps.Length > 0 ? steps[steps.Length / 2] / 2 : 1;
        var x = m.Axes.First(a => a.Position == AxisPosition.Bottom);
        x.Minimum = all[0] - 2 * half;
        x.Maximum = all[^1] + 2 * half;
        void Bands(IEnumerable<(double Tilt, string Label)> items, OxyColor fill, string css)
        {
            int n = 0;
            foreach (var (tilt, label) in items.OrderBy(t => t.Tilt))
            {
                m.Annotations.Add(new RectangleAnnotation
                {
                    MinimumX = tilt - half, MaximumX = tilt + half, Fill = fill, Layer = AnnotationLayer.BelowSeries,
                    Text = n++ < MaxLabels ? label : "", TextRotation = -90, FontSize = 10, TextColor = OxyColors.Black, ToolTip = css,
                });
            }
        }
        Bands(Excluded.Select(e => (e.Tilt, $"excluded ({Problem(e.Problem)})")), ExcludedFill, "view-excluded");
        Bands(Unsolved.Where(i => i < nominalTilts.Count).Select(i => (nominalTilts[i], "unsolved")), UnsolvedFill, "view-unsolved");
        Bands(Blank.Where(i => i < nominalTilts.Count).Select(i => (nominalTilts[i], "blank")), BlankFill, "view-blank");
        return m;
    }

    /// <summary>One line above the plots naming the views marked, with the user's (1-based) view numbers.</summary>
    public string Legend(IReadOnlyList<double> nominalTilts)
    {
        string Stack(int aligned) => ((InputViews is { } iv ? iv[aligned] : aligned) + 1).ToString(CultureInfo.InvariantCulture);
        var parts = new List<string>();
        if (Excluded.Count > 0)
            parts.Add("<span style=\"background:#d0d0d0\" class=\"mark-excluded\">left out: stack view(s) " +
                string.Join(", ", Excluded.OrderBy(e => e.Tilt).Select(e => Fmt($"{e.View + 1} ({e.Tilt:F1}°, {Problem(e.Problem)})"))) + "</span>");
        if (Unsolved.Count > 0)
            parts.Add("<span style=\"background:#fce8e6\" class=\"mark-unsolved\">unsolved: stack view(s) " +
                string.Join(", ", Unsolved.Where(i => i < nominalTilts.Count).Order().Select(Stack)) + "</span>");
        if (Blank.Count > 0)
            parts.Add("<span style=\"background:#ececec\" class=\"mark-blank\">blank: stack view(s) " +
                string.Join(", ", Blank.Where(i => i < nominalTilts.Count).Order().Select(Stack)) + "</span>");
        if (Few.Count > 0)
            parts.Add("<span style=\"background:#fef7e0\" class=\"mark-few\">few landmarks: stack view(s) " +
                string.Join(", ", Few.Where(i => i < nominalTilts.Count).Order().Select(Stack)) + "</span>");
        if (Sorted) parts.Add("<span style=\"background:#e8f0fe\" class=\"mark-sorted\">views sorted by tilt from acquisition order</span>");
        return parts.Count > 0 ? "<p class=\"legend\" id=\"view-marks\">" + string.Join("", parts) + "</p>" : "";
    }

    private static string Fmt(FormattableString s) => WebUtility.HtmlEncode(s.ToString(CultureInfo.InvariantCulture));
}
