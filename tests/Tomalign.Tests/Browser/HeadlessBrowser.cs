using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Tomalign.Tests.Browser;

/// <summary>
/// Debian's Chromium, headless, driven through its ChromeDriver (Selenium). Every page opened records
/// the script errors and failed resource loads it meets (a listener installed before any of the
/// page's own scripts run), so a test can assert that a page loaded cleanly.
/// </summary>
/// <remarks>
/// Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's chromium and chromium-driver;
/// test.sh installs them when it may). <see cref="Available"/> says whether they are here.
/// </remarks>
internal sealed class HeadlessBrowser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";

    private const string ErrorRecorder =
        "window.__pageErrors = [];" +
        "window.addEventListener('error', function (e) {" +
        "  var t = e.target;" +
        "  if (t && t !== window && (t.src || t.href)) window.__pageErrors.push('failed to load ' + (t.src || t.href));" +
        "  else window.__pageErrors.push('script error: ' + (e.message || e));" +
        "}, true);" +
        "window.addEventListener('unhandledrejection', function (e) { window.__pageErrors.push('unhandled rejection: ' + e.reason); });";

    private readonly string _profile = Path.Combine(Path.GetTempPath(), "tomalign-chromium-" + Guid.NewGuid().ToString("N"));
    private readonly ChromeDriver _driver;

    public static bool Available => File.Exists(ChromiumPath) && File.Exists(DriverPath);

    /// <summary>Why the browser tests cannot run here, for Skip.IfNot.</summary>
    public static string Missing =>
        $"Debian's chromium and chromium-driver are not installed ({ChromiumPath}, {DriverPath}); test.sh installs them as root";

    public HeadlessBrowser()
    {
        Directory.CreateDirectory(_profile);
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        // The flags that keep Chromium quiet on a machine without outside network (see the machine notes).
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1400,1000", "--user-data-dir=" + _profile);
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        _driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(60);
        _driver.ExecuteCdpCommand("Page.addScriptToEvaluateOnNewDocument", new Dictionary<string, object?> { ["source"] = ErrorRecorder });
    }

    public IWebDriver Driver => _driver;

    /// <summary>Opens a URL (http:// or a local file) and waits until the document has loaded.</summary>
    public void Open(string url)
    {
        if (File.Exists(url)) url = new Uri(Path.GetFullPath(url)).AbsoluteUri;
        _driver.Navigate().GoToUrl(url);
        WaitFor(() => Equals(Script("return document.readyState;"), "complete"), TimeSpan.FromSeconds(30), "the page to load");
    }

    public object? Script(string js, params object[] args) => _driver.ExecuteScript(js, args);

    /// <summary>Script errors and failed loads recorded since the current page was opened.</summary>
    public IReadOnlyList<string> PageErrors()
    {
        var list = Script("return window.__pageErrors || ['the error recorder was not installed'];") as IEnumerable<object>;
        return list?.Select(o => o?.ToString() ?? "").ToList() ?? ["no error list"];
    }

    /// <summary>Images on the page that did not decode (naturalWidth 0), by their first characters.</summary>
    public IReadOnlyList<string> BrokenImages()
    {
        var list = Script("return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => (i.src || '').substring(0, 60));")
            as IEnumerable<object>;
        return list?.Select(o => o?.ToString() ?? "").ToList() ?? [];
    }

    public void WaitFor(Func<bool> condition, TimeSpan timeout, string what)
    {
        var end = DateTime.UtcNow + timeout;
        while (true)
        {
            try { if (condition()) return; }
            catch (WebDriverException) { }
            if (DateTime.UtcNow > end) throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}");
            Thread.Sleep(100);
        }
    }

    public void Dispose()
    {
        try { _driver.Quit(); } catch (WebDriverException) { }
        _driver.Dispose();
        try { Directory.Delete(_profile, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
