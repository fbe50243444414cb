using Tomalign.Cli;
using Tomalign.Tests.Browser;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Reporting;

/// <summary>The HTML report that run and demo write, opened in a real headless Chromium.</summary>
public sealed class ReportInBrowserTests
{
    [SkippableFact]
    public void DemoReportOpensInChromiumWithoutErrors()
    {
        Skip.IfNot(HeadlessBrowser.Available, HeadlessBrowser.Missing);
        using var dir = new TempDir();
        var r = CliRunner.Run("demo", "--out", dir.Path, "--size", "160", "--device", "cpu", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());

        using var browser = new HeadlessBrowser();
        browser.Open(dir.File("sim.demo.html"));
        Assert.Empty(browser.PageErrors());
        Assert.Empty(browser.BrokenImages());
        // The slices decoded as pictures, and the plots were laid out with a real size.
        long decoded = Convert.ToInt64(browser.Script("return Array.from(document.images).filter(i => i.naturalWidth > 0).length;"));
        Assert.True(decoded >= 2, $"{decoded} images decoded");
        long plots = Convert.ToInt64(browser.Script(
            "return Array.from(document.querySelectorAll('svg')).filter(s => { var b = s.getBoundingClientRect(); return b.width > 100 && b.height > 100; }).length;"));
        Assert.True(plots >= 6, $"{plots} plots laid out at a visible size");
        // The quality verdict is the first section, with its reasons' list when it has any.
        Assert.Equal("Quality", Convert.ToString(browser.Script("return document.querySelector('h2').textContent;")));
        Assert.Equal("Verdict: GOOD", Convert.ToString(browser.Script("return document.getElementById('verdict').textContent;")));
        string title = browser.Driver.Title;
        Assert.False(string.IsNullOrWhiteSpace(title), "the page has no title");
    }

    [SkippableFact]
    public void TheErrorRecorderSeesABrokenPage()
    {
        // The check above can fail: a page with a script error and a missing image is caught.
        Skip.IfNot(HeadlessBrowser.Available, HeadlessBrowser.Missing);
        using var dir = new TempDir();
        string page = dir.File("broken.html");
        File.WriteAllText(page, "<!doctype html><html><head><title>x</title></head><body>" +
            "<img src=\"missing.png\"><script>undefinedFunction();</script></body></html>");
        using var browser = new HeadlessBrowser();
        browser.Open(page);
        var errors = browser.PageErrors();
        Assert.Contains(errors, e => e.Contains("script error"));
        Assert.Contains(errors, e => e.Contains("missing.png"));
        Assert.Single(browser.BrokenImages());
    }
}
