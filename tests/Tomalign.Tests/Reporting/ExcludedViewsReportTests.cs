using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Pipeline;
using Tomalign.Tests.Browser;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Reporting;

/// <summary>
/// One `align` of a simulated series with bad views (one dark, one without structure) and one more view left out with
/// --exclude-views, shared by the tests of its outputs.
/// </summary>
public sealed class AlignedWithExcludedViews : IDisposable
{
    /// <summary>The view given to --exclude-views (1-based): a good view of the simulated series, away from its bad ones.</summary>
    public const int UserExcludedOneBased = 5;

    public AlignedWithExcludedViews()
    {
        var r = CliRunner.Run("simulate", "--out", Dir.Path, "--style", "bad-views", "--size", "128", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Outcome = CliRunner.Run("align", Dir.File("sim.mrc"), "--angles", Dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", "5",
            "--exclude-views", UserExcludedOneBased.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", Dir.File("out"), "--device", "cpu", "--quiet");
        using var truth = JsonDocument.Parse(File.ReadAllText(Dir.File("sim.truth.json")));
        TruthBadViews = truth.RootElement.GetProperty("Options").GetProperty("BadViews").EnumerateArray().Select(v => v.GetProperty("View").GetInt32()).ToArray();
        Tilts = ImodText.ReadAngles(Dir.File("sim.rawtlt"));
    }

    internal TempDir Dir { get; } = new();
    internal CliRunner.Outcome Outcome { get; }
    /// <summary>The views (0-based) the simulator spoiled.</summary>
    public int[] TruthBadViews { get; }
    public double[] Tilts { get; }
    public string Out(string name) => Dir.File(Path.Combine("out", name));

    /// <summary>results.preparation.excludedViews of the report: (0-based view, problem).</summary>
    public (int View, string Problem)[] ReportedExcluded()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Out("sim.align.json")));
        return doc.RootElement.GetProperty("results").GetProperty("preparation").GetProperty("excludedViews").EnumerateArray()
            .Select(e => (e.GetProperty("view").GetInt32(), e.GetProperty("problem").GetString()!)).ToArray();
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// Issue 15: views left out (by --exclude-views or the screening) are marked in the HTML report's per-view plots and
/// table, checked in headless Chromium, and listed in NAME.aln as AreTomo's dark frames.
/// </summary>
public sealed class ExcludedViewsReportTests(AlignedWithExcludedViews series) : IClassFixture<AlignedWithExcludedViews>
{
    private (int View, string Problem)[] CheckedExclusions()
    {
        Assert.True(series.Outcome.ExitCode == ExitCodes.Ok, series.Outcome.ToString());
        var excluded = series.ReportedExcluded();
        // The series as built: the user's view and a dark one among those left out.
        Assert.Contains((AlignedWithExcludedViews.UserExcludedOneBased - 1, nameof(ViewProblem.UserExcluded)), excluded);
        Assert.Contains(excluded, e => e.Problem == nameof(ViewProblem.Dark) && series.TruthBadViews.Contains(e.View));
        return excluded;
    }

    [SkippableFact]
    public void TheReportMarksTheDarkAndTheExcludedViewVisiblyInItsPlotsAndItsTable()
    {
        Skip.IfNot(HeadlessBrowser.Available, HeadlessBrowser.Missing);
        var excluded = CheckedExclusions();
        int dark = excluded.First(e => e.Problem == nameof(ViewProblem.Dark)).View;

        using var browser = new HeadlessBrowser();
        browser.Open(series.Out("sim.align.html"));
        Assert.Empty(browser.PageErrors());
        // The verdict and its reasons first, naming the views left out.
        Assert.Equal("Quality", Convert.ToString(browser.Script("return document.querySelector('h2').textContent;")));
        Assert.StartsWith("Verdict:", Convert.ToString(browser.Script("return document.getElementById('verdict').textContent;")));
        Assert.True(Convert.ToBoolean(browser.Script(
            "return document.getElementById('quality').compareDocumentPosition(document.getElementById('views')) === Node.DOCUMENT_POSITION_FOLLOWING;")),
            "the verdict comes before the per-view table");
        string leftOut = Convert.ToString(browser.Script("return document.getElementById('left-out-views').textContent;"))!;
        Assert.Contains($"{dark + 1} (", leftOut);
        Assert.Contains($"{AlignedWithExcludedViews.UserExcludedOneBased} (", leftOut);

        // The table: one row per view of the stack; the left-out rows visible, shaded and saying why.
        Assert.Equal(series.Tilts.Length, Convert.ToInt32(browser.Script("return document.querySelectorAll('#views tr[data-state]').length;")));
        foreach (var (view, problem) in excluded)
        {
            var row = browser.Script(
                "var r = document.querySelector('#views tr[data-stack-view=\"' + arguments[0] + '\"]'); if (!r) return null;" +
                "var b = r.getBoundingClientRect(); var c = getComputedStyle(r.cells[0]);" +
                "return [r.getAttribute('data-state'), r.textContent, b.height > 0 && b.width > 0 && c.visibility === 'visible', c.backgroundColor];",
                view + 1) as IReadOnlyList<object>;
            Assert.True(row is not null, $"no table row for stack view {view + 1}");
            Assert.Equal("excluded", row![0]);
            Assert.True((bool)row[2], $"the row of view {view + 1} is not visible");
            Assert.NotEqual("rgba(0, 0, 0, 0)", row[3]);   // shaded, not the plain rows' background
            string why = problem switch
            {
                nameof(ViewProblem.Dark) => "dark",
                nameof(ViewProblem.UserExcluded) => "excluded by the user",
                nameof(ViewProblem.NoStructure) => "no structure",
                _ => "overexposed",
            };
            Assert.Contains(why, (string)row[1]);
        }
        string goodBackground = Convert.ToString(browser.Script("return getComputedStyle(document.querySelector('#views tr[data-state=good]').cells[0]).backgroundColor;"))!;
        string darkBackground = Convert.ToString(browser.Script($"return getComputedStyle(document.querySelector('#views tr[data-stack-view=\"{dark + 1}\"]').cells[0]).backgroundColor;"))!;
        Assert.NotEqual(goodBackground, darkBackground);

        // Every per-view plot carries a labelled band at the dark view and at the user's view, drawn inside the plot.
        long plots = Convert.ToInt64(browser.Script("return document.querySelectorAll('figure.per-view svg').length;"));
        Assert.Equal(4, plots);
        foreach (string label in new[] { "excluded (dark)", "excluded (--exclude-views)" })
        {
            long visible = Convert.ToInt64(browser.Script(
                "return Array.from(document.querySelectorAll('figure.per-view svg')).filter(svg => {" +
                "  var box = svg.getBoundingClientRect();" +
                "  return Array.from(svg.querySelectorAll('text')).some(t => {" +
                "    if (t.textContent.trim() !== arguments[0]) return false;" +
                "    var b = t.getBoundingClientRect();" +
                "    return b.width > 0 && b.height > 0 && b.left >= box.left && b.right <= box.right && b.top >= box.top && b.bottom <= box.bottom && getComputedStyle(t).visibility === 'visible';" +
                "  });" +
                "}).length;", label));
            Assert.True(visible == plots, $"'{label}' is visible in {visible} of {plots} per-view plots");
        }
        Assert.Contains("grey bands: views left out", Convert.ToString(browser.Script("return document.querySelector('figure.per-view figcaption').textContent;")));
    }

    /// <summary>Issue 15.2: NAME.aln lists the views left out as `# DarkFrame` lines, its RawSize counting the whole stack.</summary>
    [Fact]
    public void TheAlnListsTheViewsLeftOutAsDarkFrames()
    {
        var excluded = CheckedExclusions();
        var aln = AreTomoAln.Read(series.Out("sim.aln"));
        Assert.Equal(series.Tilts.Length, aln.RawNz);
        Assert.Equal(excluded.Select(e => e.View).Order(), aln.DarkFrames.Select(d => d.Section));
        Assert.Equal(series.Tilts.Length - excluded.Length, aln.Rows.Count);
        // The stack is in tilt order here, so a dark frame's place among the views is its section; its tilt is the nominal one.
        Assert.All(aln.DarkFrames, d => Assert.Equal(d.Section, d.RawIndex));
        Assert.All(aln.DarkFrames, d => Assert.Equal(series.Tilts[d.Section], d.Tilt, 2));
        var (xf, _) = aln.ToImod();
        Assert.All(aln.DarkFrames, d => Assert.Equal(Xf.Identity, xf[d.RawIndex]));
        Assert.Contains("# DarkFrame =", File.ReadAllText(series.Out("sim.aln")));
    }

    /// <summary>A stack in acquisition order: a dark frame's FRAME is its place in tilt order, its SECTION its place in the stack.</summary>
    [Fact]
    public void DarkFramesOfASortedStackGiveTheirTiltOrderAndTheirSection()
    {
        // Stack order 0, 3, −3, 6, −6 (degrees): tilt order is views 4, 2, 0, 1, 3; view 2 (−3°) is dark.
        var prepared = new PreparedSeries("s.mrc", "s.rawtlt", [4, 0, 1, 3], [new ExcludedView(2, -3, ViewProblem.Dark, "dark")], Sorted: true)
        {
            SortedInputViews = [4, 2, 0, 1, 3],
        };
        var xfs = Enumerable.Range(0, 4).Select(i => Xf.RotationScale(85 + i, 1, i, -i)).ToArray();
        var aln = RefineStage.WithDarkFrames(AreTomoAln.FromImod(xfs, [-6, 0, 3, 6], 64, 64), prepared);
        Assert.Equal(5, aln.RawNz);
        Assert.Equal([new AlnDarkFrame(1, 2, -3)], aln.DarkFrames);
        Assert.Equal([0, 2, 3, 4], aln.RawIndexes());   // the rows fill the other places in tilt order
    }
}
