using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tomalign.Cli;
using Tomalign.Cli.Serve;
using Tomalign.Core.Formats;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Serve;

/// <summary>The serve tests run one at a time: each keeps the two cores busy with its jobs.</summary>
[CollectionDefinition(Name)]
public sealed class ServeCollection
{
    public const string Name = "serve";
}

/// <summary>A job as the API answers it (the fields the tests read).</summary>
internal sealed record ApiJob(long Id, string Name, string State, string? Stage, string? Error, string Stack, string Angles, int Attempts,
    string? Report, string[]? Files);

/// <summary>
/// Folders for one service (watch, out, and a staging folder where series are simulated before they are
/// dropped into the watched folder), simulated series, and an HTTP client with the polling the tests need.
/// </summary>
internal sealed class ServeFolders : IDisposable
{
    /// <summary>Bead alignment and a thin WBP tomogram: a 128² job takes about a second on two cores.</summary>
    public const string FastSettings = """{ "tiltAxis": 85, "beadDiameter": 6, "thickness": 40 }""";

    private readonly TempDir _root = new();

    public ServeFolders()
    {
        Directory.CreateDirectory(Watch);
        Directory.CreateDirectory(Staging);
    }

    public string Root => _root.Path;
    public string Watch => Path.Combine(_root.Path, "watch");
    public string Out => Path.Combine(_root.Path, "out");
    public string Staging => Path.Combine(_root.Path, "staging");

    /// <summary>
    /// Simulates a small series (160², 21 views, 12 beads of 6 px: the smallest whose alignment the quality verdict calls good
    /// for seeds 1–3; at 128² the coarse stage jumps and the jobs end unreliable) in the staging folder and drops it into the watched folder:
    /// the stack with its .rawtlt, or with SerialEM's NAME.mrc.mdoc instead (<paramref name="mdoc"/>). With 3 beads
    /// (<paramref name="beads"/>) the alignment fails: the job ends unreliable.
    /// </summary>
    public string Drop(string name, bool mdoc = false, int seed = 1, int beads = 12)
    {
        var r = CliRunner.Run("simulate", "--out", Staging, "--name", name, "--size", "160", "--tilt-step", "6", "--bead-radius", "3",
            "--beads", beads.ToString(CultureInfo.InvariantCulture),
            "--seed", seed.ToString(CultureInfo.InvariantCulture), "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        string stack = Path.Combine(Watch, name + ".mrc");
        if (mdoc)
        {
            var angles = ImodText.ReadAngles(Path.Combine(Staging, name + ".rawtlt"));
            File.WriteAllText(Path.Combine(Staging, name + ".mrc.mdoc"), Mdoc(angles));
            File.Move(Path.Combine(Staging, name + ".mrc.mdoc"), stack + ".mdoc");
        }
        else File.Move(Path.Combine(Staging, name + ".rawtlt"), Path.Combine(Watch, name + ".rawtlt"));
        File.Move(Path.Combine(Staging, name + ".mrc"), stack);
        return stack;
    }

    /// <summary>A file that claims to be a stack but is not an MRC file, with a good angle file.</summary>
    public string DropCorrupt(string name)
    {
        string stack = Path.Combine(Watch, name + ".mrc");
        File.WriteAllBytes(stack, Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray());
        File.WriteAllLines(Path.Combine(Watch, name + ".rawtlt"), Enumerable.Range(0, 21).Select(i => (-60 + 6 * i).ToString(CultureInfo.InvariantCulture)));
        return stack;
    }

    /// <summary>SerialEM's .mdoc for these angles (a header, a title section, one [ZValue] section per view).</summary>
    public static string Mdoc(IReadOnlyList<double> angles)
    {
        var w = new StringWriter { NewLine = "\n" };
        w.WriteLine("PixelSpacing = 2.0");
        w.WriteLine("ImageFile = series.mrc");
        w.WriteLine("ImageSize = 160 160");
        w.WriteLine("DataMode = 1");
        w.WriteLine();
        w.WriteLine("[T = SerialEM: Digitized on EMBL Krios                  29-Nov-26  12:00:00    ]");
        w.WriteLine();
        for (int z = 0; z < angles.Count; z++)
        {
            w.WriteLine($"[ZValue = {z}]");
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"TiltAngle = {angles[z]:F2}"));
            w.WriteLine("StagePosition = 12.5 -3.1");
            w.WriteLine("Magnification = 42000");
            w.WriteLine("ExposureDose = 3.1");
            w.WriteLine();
        }
        return w.ToString();
    }

    public void Dispose() => _root.Dispose();
}

/// <summary>An HTTP client for a running service, with polling for job states.</summary>
internal sealed class ServeClient(string address) : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public HttpClient Http { get; } = new() { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };

    public async Task<List<ApiJob>> JobsAsync() => (await Http.GetFromJsonAsync<List<ApiJob>>("/api/jobs", Json))!;

    public async Task<ApiJob> JobAsync(long id) => (await Http.GetFromJsonAsync<ApiJob>($"/api/jobs/{id}", Json))!;

    /// <summary>Polls the job list until <paramref name="done"/> holds; fails with the list when it times out.</summary>
    public async Task<List<ApiJob>> WaitForAsync(Func<List<ApiJob>, bool> done, TimeSpan timeout, string what, int pollMs = 100)
    {
        var end = DateTime.UtcNow + timeout;
        List<ApiJob> jobs = [];
        while (DateTime.UtcNow < end)
        {
            try
            {
                jobs = await JobsAsync();
                if (done(jobs)) return jobs;
            }
            catch (HttpRequestException) { }
            await Task.Delay(pollMs);
        }
        throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}; jobs: " +
            string.Join("; ", jobs.Select(j => $"{j.Id} {j.Name} {j.State} {j.Stage} {j.Error}")));
    }

    public void Dispose() => Http.Dispose();
}

/// <summary>The service started in this process, with its log captured.</summary>
internal sealed class InProcessServe : IAsyncDisposable
{
    private readonly StringWriter _log;

    private InProcessServe(ServeService service, StringWriter log)
    {
        Service = service;
        Client = new ServeClient(service.Address);
        _log = log;
    }

    public ServeService Service { get; }
    public ServeClient Client { get; }

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    public static async Task<InProcessServe> StartAsync(ServeFolders folders, string settingsJson = ServeFolders.FastSettings, double graceSeconds = 30,
        int workers = 1)
    {
        var log = new StringWriter();
        var options = new ServeOptions(folders.Watch, folders.Out, ServeSettings.Parse(settingsJson, "test settings"), "http://127.0.0.1:0",
            workers, TimeSpan.FromSeconds(0.3), TimeSpan.FromSeconds(graceSeconds));
        var service = await ServeService.StartAsync(options, new TextWriterLoggerProvider(TextWriter.Synchronized(log), LogLevel.Information), LogLevel.Information);
        return new InProcessServe(service, log);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Service.DisposeAsync();
    }
}
