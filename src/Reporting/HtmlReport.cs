using System.Globalization;
using System.Net;
using System.Text;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Series;
using Tomalign.Core.IO;
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
    public static void Write(string path, RunReport run, SolveResult? solve, IReadOnlyList<double> nominalTilts, double nominalAxis,
        IReadOnlyList<double>? coarseStrengths, IReadOnlyList<SliceImage> slices, int width, int height)
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
            .Append("li.unreliable{color:#a50e0e}li.doubtful{color:#8a5a00}</style></head><body>");
        html.Append("<h1>Tomalign ").Append(Esc(run.Command)).Append("</h1><p>")
            .Append(Esc(string.Join(' ', run.Arguments))).Append("<br>Started ").Append(run.StartedUtc.ToString("u", CultureInfo.InvariantCulture))
            .Append(" on ").Append(Esc(run.Machine)).Append("; device: ").Append(Esc(run.Device ?? "-")).Append("</p>");
        Quality(html, run.Quality, nominalTilts);
        var unsolved = new HashSet<int>(run.Quality?.UnsolvedViews ?? []);
        unsolved.UnionWith(run.Quality?.ExcludedViews ?? []);

        if (solve is not null)
        {
            html.Append("<h2>Alignment</h2><p>").Append(Fmt($"{solve.ObservationCount} observations of {solve.Landmarks.Length} landmarks in {solve.Views.Length} views: residual mean {solve.Overall.Mean:F3} px, SD {solve.Overall.Sd:F3}, RMS {solve.Overall.Rms:F3}; {solve.FlaggedPointCount} points flagged. Gauge: "))
                .Append(Esc(solve.Gauge)).Append("</p><div class=\"plots\">");
            var views = Enumerable.Range(0, solve.Views.Length).ToArray();
            html.Append(Figure(Line("Mean residual per view", "view", "residual (px)", views.Select(i => (i * 1.0, solve.PerView[i].Mean))), "Residual per view"));
            html.Append(Figure(Scatter("Mean residual per landmark", "landmark", "residual (px)",
                solve.Landmarks.Select((l, k) => (k * 1.0, l.Residual.Mean))), "Residual per landmark"));
            html.Append(Figure(Vectors(solve, width, height), "Residual vectors on the field (×20)"));
            // Unsolved and excluded views keep their start values: they are left out, not drawn as perfect.
            var solvedViews = views.Where(i => !unsolved.Contains(i)).ToArray();
            string left = unsolved.Count > 0 ? $" ({unsolved.Count} unsolved or excluded view(s) left out)" : "";
            html.Append(Figure(Line("Tilt − nominal", "view", "degrees", solvedViews.Select(i => (i * 1.0, solve.Views[i].TiltDegrees - nominalTilts[i]))), "Solved tilt against nominal" + left));
            html.Append(Figure(Line($"Rotation (nominal {nominalAxis:F1}°)", "view", "degrees", solvedViews.Select(i => (i * 1.0, solve.Views[i].AxisAngleDegrees))), "Solved tilt-axis rotation" + left));
            html.Append(Figure(Line("Magnification", "view", "", solvedViews.Select(i => (i * 1.0, solve.Views[i].Magnification))), "Solved magnification" + left));
            html.Append("</div>");
        }
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
    private static void Quality(StringBuilder html, QualityVerdict? quality, IReadOnlyList<double> nominalTilts)
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
        html.Append("</section>");
    }

    private static string Fmt(FormattableString s) => Esc(s.ToString(CultureInfo.InvariantCulture));
    private static string Esc(string s) => WebUtility.HtmlEncode(s);

    private static string Figure(PlotModel model, string caption)
    {
        string svg = SvgExporter.ExportToString(model, 420, 300, false, new PdfRenderContext(420, 300, OxyColors.White), false);
        return $"<figure>{svg}<figcaption>{Esc(caption)}</figcaption></figure>";
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
