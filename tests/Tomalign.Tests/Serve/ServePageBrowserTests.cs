using OpenQA.Selenium;
using Tomalign.Cli.Serve;
using Tomalign.Tests.Browser;
using Xunit;

namespace Tomalign.Tests.Serve;

/// <summary>The job page of `serve` in headless Chromium: it lists the jobs with their live state and opens a report.</summary>
[Collection(ServeCollection.Name)]
public sealed class ServePageBrowserTests
{
    [SkippableFact]
    public async Task ThePageListsTheJobsAndOpensAReport()
    {
        Skip.IfNot(HeadlessBrowser.Available, HeadlessBrowser.Missing);
        using var folders = new ServeFolders();
        await using var serve = await InProcessServe.StartAsync(folders);
        using var browser = new HeadlessBrowser();
        browser.Open(serve.Service.Address + "/");
        Assert.Equal("Tomalign jobs", browser.Driver.Title);
        // An empty queue says so.
        browser.WaitFor(() => browser.Driver.FindElement(By.Id("jobs")).Text.Contains("No jobs yet"), TimeSpan.FromSeconds(10), "the empty list");

        folders.Drop("alpha");
        folders.DropCorrupt("broken");
        // The page follows the states without a reload.
        browser.WaitFor(() => States(browser) is { Count: 2 } s && s["alpha"] == JobStates.Done && s["broken"] == JobStates.Failed,
            TimeSpan.FromSeconds(120), "both jobs to end on the page");
        Assert.Empty(browser.PageErrors());
        var brokenRow = browser.Driver.FindElements(By.CssSelector("tr.job")).Single(r => r.FindElement(By.CssSelector(".name")).Text.StartsWith("broken"));
        Assert.Contains("broken.mrc", brokenRow.FindElement(By.CssSelector(".error")).Text);
        Assert.Single(brokenRow.FindElements(By.CssSelector("button.retry")));
        Assert.Empty(brokenRow.FindElements(By.CssSelector("a.report")));

        var alphaRow = browser.Driver.FindElements(By.CssSelector("tr.job")).Single(r => r.FindElement(By.CssSelector(".name")).Text.StartsWith("alpha"));
        alphaRow.FindElement(By.CssSelector("a.report")).Click();
        browser.WaitFor(() => browser.Driver.Url.EndsWith("/report") && Equals(browser.Script("return document.readyState;"), "complete"),
            TimeSpan.FromSeconds(30), "the report to open");
        Assert.Empty(browser.PageErrors());
        Assert.Empty(browser.BrokenImages());
        Assert.False(string.IsNullOrWhiteSpace(browser.Driver.Title), "the report has no title");
        long images = Convert.ToInt64(browser.Script("return Array.from(document.images).filter(i => i.naturalWidth > 0).length;"));
        Assert.True(images >= 2, $"{images} slices decoded in the report");
    }

    private static Dictionary<string, string> States(HeadlessBrowser browser) =>
        browser.Driver.FindElements(By.CssSelector("tr.job")).ToDictionary(
            r => r.FindElement(By.CssSelector(".name")).Text.Split('\n')[0].Trim(),
            r => r.GetDomAttribute("data-state") ?? "");
}
