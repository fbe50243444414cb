using System.Globalization;
using System.Net;
using System.Text;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Series;
using Tomalign.Core.Imaging;
using Tomalign.Core.IO;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Quality;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Reporting;

/// <summary>A slice of the tomogram to show: width × height floats, x fastest.</summary>
public sealed record SliceImage(string Title, float[] Pixels, int Width, int Height);

/// <summary>
/// A self-contained HTML page for one run (no network needed to view it): residual per view and per
/// landmark, the residual vectors on the field, solved rotation, tilt and magnification against the
/// nominal values, the coarse correlation strength, central slices of the tomogram, and the time per
/// stage with the device. Plots are drawn by OxyPlot and inlined as SVG; slices as inline BMP images.
/// </summary>
public static class HtmlReport
{
    /// <param name="preparation">What the preparation did to the user's views (sorted, left out): those views are marked
    /// in the per-view plots and table; null when the views were aligned as given.</param>
    public static void Write(string path, RunReport run, SolveResult? solve, IReadOnlyList<double> nominalTilts, double nominalAxis,
        IReadOnlyList<double>? coarseStrengths, IReadOnlyList<SliceImage> slices, int width, int height, PreparedSeries? preparation = null, LocalSolution? local = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Tomalign ")
            .Append(Esc(run.Command)).Append(" report</title><style>")
            .Append("body{font-family:sans-serif;margin:2em;max-width:1300px}h2{margin-top:1.6em}table{border-collapse:collapse}")
            .Append("td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}.plots{display:flex;flex-wrap:wrap;gap:12px}")
.Append("figure{margin:0}figcaption{font-size:90%;color:#444}")
            .Append(".verdict{padding:.6em 1em;border-radius:4px;font-size:1.2em}.verdict-good{background:#e6f4ea;color:#137333}")
            .Append(".verdict-doubtful{background:#fef7e0;color:#8a5a00}.verdict-unreliable{background:#fce8e6;color:#a50e0e}")
            .Append("li.unreliable{color:#a50e0e}li.doubtful{color:#8a5a00}")
            .Append("tr.view-excluded td{background:#e0e0e0;color:#555}tr.view-unsolved td{background:#fce8e6;color:#a50e0e}")
            .Append("tr.view-few td{background:#fef7e0;color:#8a5a00}tr.view-blank td{background:#ececec;color:#555}td.state{text-align:left;font-weight:bold}")
            .Append("td.note{text-align:left;font-size:90%}td.moved{font-weight:bold}.legend span{display:inline-block;padding:1px 8px;margin-right:8px;border-radius:3px}")
            .Append("</style></head><body>");
        html.Append("<h1>Tomalign ").Append(Esc(run.Command)).Append("</h1><p>")
            .Append(Esc(string.Join(' ', run.Arguments))).Append("<br>Started ").Append(run.StartedUtc.ToString("u", CultureInfo.InvariantCulture))
            .Append(" on ").Append(Esc(run.Machine)).Append("; device: ").Append(Esc(run.Device ?? "-")).Append("</p>");
        var states = ViewStates.Of(run.Quality, nominalTilts, preparation);
        Quality(html, run.Quality, nominalTilts, states);

        if (solve is not null)
        {
            html.Append("<h2>Alignment</h2><p>").Append(Fmt($"{solve.ObservationCount} observations of {solve.Landmarks.Length} landmarks in {solve.Views.Length} views: residual mean {solve.Overall.Mean:F3} px, SD {solve.Overall.Sd:F3}, RMS {solve.Overall.Rms:F3}; {solve.FlaggedPointCount} points flagged. Gauge: "))
                .Append(Esc(solve.Gauge)).Append("</p>");
            html.Append(states.Legend(nominalTilts)).Append("<div class=\"plots\">");
            // Per-view plots against the nominal tilt, so that views left out before the alignment have their place: bands mark
            // excluded (grey), unsolved (red) and blank (grey) views, orange triangles views with few landmarks. Views without a
            // solved geometry keep their start values: they are left out of the curves (a gap), not drawn as perfect.
            var aligned = Enumerable.Range(0, solve.Views.Length).Where(i => i < nominalTilts.Count).ToArray();
            var solved = aligned.Where(i => !states.Unsolved.Contains(i) && !states.Blank.Contains(i)).ToArray();
            html.Append(Figure(states.Mark(PerView("Mean residual per view", "residual (px)", nominalTilts, aligned.Where(i => solve.PerView[i].Count > 0), i => solve.PerView[i].Mean, states), nominalTilts), "Residual per view" + states.Caption, "per-view"));
            html.Append(Figure(Scatter("Mean residual per landmark", "landmark", "residual (px)",
                solve.Landmarks.Select((l, k) => (k * 1.0, l.Residual.Mean))), "Residual per landmark"));
            html.Append(Figure(Vectors(solve, width, height), "Residual vectors on the field (×20)"));
            html.Append(Figure(states.Mark(PerView("Tilt − nominal", "degrees", nominalTilts, solved, i => solve.Views[i].TiltDegrees - nominalTilts[i], states), nominalTilts), "Solved tilt against nominal" + states.Caption, "per-view"));
            html.Append(Figure(states.Mark(PerView($"Rotation (nominal {nominalAxis:F1}°)", "degrees", nominalTilts, solved, i => solve.Views[i].AxisAngleDegrees, states), nominalTilts), "Solved tilt-axis rotation" + states.Caption, "per-view"));
            html.Append(Figure(states.Mark(PerView("Magnification", "", nominalTilts, solved, i => solve.Views[i].Magnification, states), nominalTilts), "Solved magnification" + states.Caption, "per-view"));
            html.Append("</div>");
            ViewTable(html, solve, nominalTilts, states);
        }
        if (local is not null) LocalMap(html, local);
        if (coarseStrengths is { Count: > 0 })
            html.Append("<h2>Coarse alignment</h2><div class=\"plots\">")
                .Append(Figure(Line("Peak strength per neighbour pair", "pair", "strength", coarseStrengths.Select((s, k) => (k + 1.0, s))), "Coarse correlation strength"))
                .Append("</div>");
        if (slices.Count > 0)
        {
            html.Append("<h2>Tomogram</h2><div class=\"plots\">");
            foreach (var s in slices)
                html.Append("<figure><img alt=\"").Append(Esc(s.Title)).Append("\" style=\"image-rendering:pixelated;max-width:620px\" src=\"data:image/bmp;base64,")
                    .Append(Convert.ToBase64String(GreyBmp(s.Pixels, s.Width, s.Height))).Append("\"><figcaption>").Append(Esc(s.Title)).Append("</figcaption></figure>");
            html.Append("</div>");
        }
        html.Append("<h2>Stages</h2><table><tr><th>stage</th><th>seconds</th></tr>");
        foreach (var st in run.Stages) html.Append("<tr><td style=\"text-align:left\">").Append(Esc(st.Name)).Append("</td><td>").Append(Fmt($"{st.Seconds:F2}")).Append("</td></tr>");
        html.Append("</table>");
        if (run.Warnings.Count > 0)
        {
            html.Append("<h2>Warnings</h2><ul>");
            foreach (var w in run.Warnings) html.Append("<li>").Append(Esc(w)).Append("</li>");
            html.Append("</ul>");
        }
        html.Append("</body></html>");
        AtomicFile.WriteAllText(path, html.ToString());
    }

    /// <summary>The verdict first: its name, every reason, and the views without a solved geometry.</summary>
    private static void Quality(StringBuilder html, QualityVerdict? quality, IReadOnlyList<double> nominalTilts, ViewStates states)
    {
        if (quality is null) return;
        html.Append("<section id=\"quality\"><h2>Quality</h2><p class=\"verdict verdict-").Append(quality.Name).Append("\" id=\"verdict\">Verdict: <b>")
            .Append(quality.Name.ToUpperInvariant()).Append("</b>");
        if (quality.Verdict == Verdict.Unreliable) html.Append(" — do not use this alignment without fixing the causes below");
        html.Append("</p>");
        if (quality.Reasons.Count > 0)
        {
            html.Append("<ul id=\"reasons\">");
            foreach (var r in quality.Reasons)
                html.Append("<li class=\"").Append(r.Severity.ToString().ToLowerInvariant()).Append("\" data-code=\"").Append(Esc(r.Code)).Append("\"><b>")
                    .Append(r.Severity.ToString().ToLowerInvariant()).Append("</b>: ").Append(Esc(r.Message)).Append("</li>");
            html.Append("</ul>");
        }
        string Views(IReadOnlyList<int> v) => string.Join(", ", v.Select(i => i < nominalTilts.Count ? Fmt($"{i} ({nominalTilts[i]:F1}°)") : Fmt($"{i}")));
        if (quality.UnsolvedViews.Count > 0)
            html.Append("<p id=\"unsolved-views\">Unsolved views (no landmarks; coarse alignment only): ").Append(Views(quality.UnsolvedViews)).Append("</p>");
        if (quality.ExcludedViews.Count > 0)
            html.Append("<p id=\"excluded-views\">Excluded views: ").Append(Views(quality.ExcludedViews)).Append("</p>");
        if (states.Excluded.Count > 0)
            html.Append("<p id=\"left-out-views\">Left out before the alignment (stack views, 1-based): ")
                .Append(Esc(string.Join("; ", states.Excluded.OrderBy(e => e.Tilt).Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.View + 1} ({e.Tilt:F1}°): {e.Reason}")))))
                .Append("</p>");
        if (states.Sorted)
            html.Append("<p id=\"sorted-views\">The views were sorted by tilt from acquisition order; every output is in tilt order.</p>");
        html.Append("</section>");
    }

    /// <summary>
    /// The local alignments as a residual map: one cell per area, in its place on the field (X across, Y from the top row of areas
    /// down), with its mean residual and the global solution's over the same points, shaded from the best area (light) to the worst.
    /// </summary>
    private static void LocalMap(StringBuilder html, LocalSolution local)
    {
        html.Append("<h2 id=\"local\">Local alignments</h2><p>").Append(Fmt($"{local.NumberX} × {local.NumberY} areas, centres {local.DeltaX}, {local.DeltaY} px apart; residual local mean {local.MeanResidual:F3} px (global solution over the same points {local.Areas.Average(a => a.GlobalResidual.Mean):F3} px). Each cell: local / global mean residual (px), landmarks."))
            .Append("</p><table id=\"local-map\"><tr><th>y \\ x</th>");
        for (int ix = 0; ix < local.NumberX; ix++) html.Append("<th>").Append(Fmt($"{local.StartX + ix * local.DeltaX}")).Append("</th>");
        html.Append("</tr>");
        double lo = local.Areas.Min(a => a.Residual.Mean), hi = local.Areas.Max(a => a.Residual.Mean);
        for (int iy = local.NumberY - 1; iy >= 0; iy--)
        {
            html.Append("<tr><th>").Append(Fmt($"{local.StartY + iy * local.DeltaY}")).Append("</th>");
            for (int ix = 0; ix < local.NumberX; ix++)
            {
                var a = local.Areas[iy * local.NumberX + ix];
                double f = hi > lo ? (a.Residual.Mean - lo) / (hi - lo) : 0;
                int g = (int)Math.Round(235 - 90 * f);
                html.Append("<td style=\"background:rgb(255,").Append(g).Append(',').Append(g).Append(")\">")
                    .Append(Fmt($"{a.Residual.Mean:F3} / {a.GlobalResidual.Mean:F3}<br>{a.Landmarks.Length}")).Append("</td>");
            }
            html.Append("</tr>");
        }
        html.Append("</table>");
    }

    private static string Fmt(FormattableString s) => Esc(s.ToString(CultureInfo.InvariantCulture));
    private static string Esc(string s) => WebUtility.HtmlEncode(s);

    private static string Figure(PlotModel model, string caption, string? cssClass = null)
    {
        string svg = SvgExporter.ExportToString(model, 420, 300, false, new PdfRenderContext(420, 300, OxyColors.White), false);
        return $"<figure{(cssClass is null ? "" : $" class=\"{cssClass}\"")}>{svg}<figcaption>{Esc(caption)}</figcaption></figure>";
    }

    /// <summary>
    /// A per-view curve against the nominal tilt: the values of <paramref name="views"/> (aligned view indexes), broken
    /// where a view between two of them is missing, so that no line bridges an excluded or unsolved view; views with few
    /// landmarks are drawn again as orange triangles.
    /// </summary>
    private static PlotModel PerView(string title, string y, IReadOnlyList<double> tilts, IEnumerable<int> views, Func<int, double> value, ViewStates states)
    {
        var m = Model(title, "nominal tilt (°)", y);
        var line = new LineSeries { MarkerType = MarkerType.Circle, MarkerSize = 2, Color = OxyColors.SteelBlue, MarkerFill = OxyColors.SteelBlue };
        var few = new ScatterSeries { MarkerType = MarkerType.Triangle, MarkerSize = 5, MarkerFill = OxyColor.FromRgb(0xE3, 0x74, 0x00), Title = "few landmarks" };
        int previous = int.MinValue;
        foreach (int i in views.OrderBy(i => tilts[i]))
        {
            if (previous != int.MinValue && (i != previous + 1 || states.GapBetween(tilts[previous], tilts[i]))) line.Points.Add(DataPoint.Undefined);
            double v = value(i);
            if (!double.IsFinite(v)) { previous = int.MinValue; continue; }
            line.Points.Add(new DataPoint(tilts[i], v));
            if (states.Few.Contains(i)) few.Points.Add(new ScatterPoint(tilts[i], v));
            previous = i;
        }
        m.Series.Add(line);
        if (few.Points.Count > 0) m.Series.Add(few);
        return m;
    }

    /// <summary>
    /// One row per view of the user's stack, in tilt order: its place in the stack (1-based, as --exclude-views counts),
    /// its aligned view (0-based, as the outputs count), its state and why, its landmarks and residual, and its solved
    /// geometry. Rows of excluded, unsolved, blank and few-landmark views are coloured and say so.
    /// </summary>
    private static void ViewTable(StringBuilder html, SolveResult solve, IReadOnlyList<double> nominalTilts, ViewStates states)
    {
        html.Append("<h2 id=\"views-heading\">Views</h2>");
        if (states.Sorted)
            html.Append("<p id=\"views-sorted\">The stack was not in tilt order (acquisition order): its views were sorted by tilt, and every output ")
                .Append("is in tilt order. The table lists the views in tilt order; <b>stack view</b> is each view's place in the input stack (bold where it moved).</p>");
        html.Append("<table id=\"views\"><tr><th>tilt (°)</th><th>stack view (1-based)</th><th>aligned view</th><th>state</th><th>points</th>")
            .Append("<th>mean residual (px)</th><th>tilt − nominal (°)</th><th>rotation (°)</th><th>magnification</th><th style=\"text-align:left\">why</th></tr>");
        foreach (var row in states.Rows(nominalTilts))
        {
            string cls = row.State switch { ViewState.Excluded => "view-excluded", ViewState.Unsolved => "view-unsolved", ViewState.Blank => "view-blank", ViewState.Few => "view-few", _ => "view-good" };
            html.Append("<tr class=\"").Append(cls).Append("\" data-state=\"").Append(ViewStates.Name(row.State)).Append("\"");
            if (row.StackView is { } sv) html.Append(" data-stack-view=\"").Append(sv + 1).Append('"');
            html.Append("><td>").Append(Fmt($"{row.Tilt:F1}")).Append("</td><td").Append(row.Moved ? " class=\"moved\"" : "").Append('>')
                .Append(row.StackView is { } s1 ? Fmt($"{s1 + 1}") : "-").Append("</td><td>").Append(row.Aligned is { } a ? Fmt($"{a}") : "—").Append("</td><td class=\"state\">")
                .Append(Esc(ViewStates.Name(row.State))).Append("</td>");
            if (row.Aligned is { } i && i < solve.Views.Length)
            {
                bool hasGeometry = row.State is not (ViewState.Unsolved or ViewState.Blank);
                var r = solve.PerView[i];
                var v = solve.Views[i];
                html.Append("<td>").Append(Fmt($"{r.Count}")).Append("</td><td>").Append(r.Count > 0 ? Fmt($"{r.Mean:F3}") : "—").Append("</td>");
                if (hasGeometry)
                    html.Append("<td>").Append(Fmt($"{v.TiltDegrees - nominalTilts[i]:F2}")).Append("</td><td>").Append(Fmt($"{v.AxisAngleDegrees:F2}"))
                        .Append("</td><td>").Append(Fmt($"{v.Magnification:F4}")).Append("</td>");
                else html.Append("<td>—</td><td>—</td><td>—</td>");
            }
            else html.Append("<td>—</td><td>—</td><td>—</td><td>—</td><td>—</td>");
            html.Append("<td class=\"note\">").Append(Esc(row.Why)).Append("</td></tr>");
        }
        html.Append("</table>");
    }

    private static PlotModel Model(string title, string x, string y)
    {
        var m = new PlotModel { Title = title, TitleFontSize = 13, DefaultFontSize = 11 };
        m.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = x, MinimumPadding = 0.03, MaximumPadding = 0.03 });
        m.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = y, AxisTitleDistance = 12, MinimumPadding = 0.05, MaximumPadding = 0.05 });
        return m;
    }

    private static PlotModel Line(string title, string x, string y, IEnumerable<(double X, double Y)> points)
    {
        var m = Model(title, x, y);
        var s = new LineSeries { MarkerType = MarkerType.Circle, MarkerSize = 2 };
        foreach (var (px, py) in points) s.Points.Add(new DataPoint(px, py));
        m.Series.Add(s);
        return m;
    }

    private static PlotModel Scatter(string title, string x, string y, IEnumerable<(double X, double Y)> points)
    {
        var m = Model(title, x, y);
        var s = new ScatterSeries { MarkerType = MarkerType.Circle, MarkerSize = 3 };
        foreach (var (px, py) in points) s.Points.Add(new ScatterPoint(px, py));
        m.Series.Add(s);
        return m;
    }

    /// <summary>Each point's residual as a segment from the measured position, 20× longer, on the image field (y up).</summary>
    private static PlotModel Vectors(SolveResult solve, int width, int height)
    {
        var m = new PlotModel { Title = "Residual vectors (×20)", TitleFontSize = 13, DefaultFontSize = 11, PlotType = PlotType.Cartesian };
        m.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = width, Title = "x (px)" });
        m.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Minimum = 0, Maximum = height, Title = "y (px)", AxisTitleDistance = 12 });
        var s = new LineSeries { StrokeThickness = 0.8, Color = OxyColors.SteelBlue };
        var flagged = new LineSeries { StrokeThickness = 0.8, Color = OxyColors.Crimson };
        foreach (var p in solve.Points)
        {
            var target = p.Flagged ? flagged : s;
            target.Points.Add(new DataPoint(p.X, p.Y));
            target.Points.Add(new DataPoint(p.X + 20 * p.Dx, p.Y + 20 * p.Dy));
            target.Points.Add(DataPoint.Undefined);
        }
        m.Series.Add(s);
        m.Series.Add(flagged);
        return m;
    }

    /// <summary>An 8-bit grey BMP, row 0 at the bottom (as 3dmod shows y and z), scaled to the 1st–99th percentile.</summary>
    internal static byte[] GreyBmp(float[] pixels, int width, int height)
    {
        var sorted = pixels.Where(float.IsFinite).OrderBy(v => v).ToArray();
        float lo = sorted.Length > 0 ? sorted[sorted.Length / 100] : 0, hi = sorted.Length > 0 ? sorted[Math.Min(sorted.Length - 1, sorted.Length * 99 / 100)] : 1;
        if (!(hi > lo)) hi = lo + 1;
        int stride = (width + 3) / 4 * 4;
        int dataOffset = 14 + 40 + 256 * 4, size = dataOffset + stride * height;
        var b = new byte[size];
        void I32(int at, int v) => BitConverter.TryWriteBytes(b.AsSpan(at, 4), v);
        b[0] = (byte)'B'; b[1] = (byte)'M'; I32(2, size); I32(10, dataOffset);
        I32(14, 40); I32(18, width); I32(22, height); b[26] = 1; b[28] = 8; I32(34, stride * height); I32(46, 256);
        for (int k = 0; k < 256; k++) { b[54 + 4 * k] = (byte)k; b[55 + 4 * k] = (byte)k; b[56 + 4 * k] = (byte)k; }
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                float v = pixels[y * width + x];
                int g = float.IsFinite(v) ? (int)Math.Clamp((v - lo) / (hi - lo) * 255, 0, 255) : 0;
                b[dataOffset + y * stride + x] = (byte)g;   // BMP rows are stored bottom-up
            }
        return b;
    }
}
