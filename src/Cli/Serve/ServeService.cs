using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tomalign.Core;

namespace Tomalign.Cli.Serve;

/// <summary>What `serve` was told: the folders, the settings, the address and the worker count.</summary>
/// <remarks><paramref name="Slurm"/>: with serve --executor slurm, the settings file's SLURM options and retries; null: local workers.</remarks>
internal sealed record ServeOptions(string Watch, string Out, ServeSettings Settings, string Urls, int Workers, TimeSpan Settle, TimeSpan Grace,
    long? GpuMemoryLimit = null, Batch.BatchSettings? Slurm = null);

/// <summary>
/// The running service: the job queue (SQLite in the output folder), the folder watcher, the workers and
/// the HTTP API with its page, in one process. <see cref="StartAsync"/> returns once it listens.
/// </summary>
internal sealed class ServeService : IAsyncDisposable
{
    public const string DatabaseName = "tomalign-serve.db";

    public const string LockName = "tomalign-serve.lock";

    private readonly CancellationTokenSource _stop = new();
    private readonly ILoggerFactory _logs;
    private readonly FileStream _lock;
    private WebApplication? _app;
    private Task _watching = Task.CompletedTask;
    private Task _slurmLoop = Task.CompletedTask;
    private readonly SemaphoreSlim _slurmWake = new(0);
    private Batch.SlurmExecutor? _slurm;
    private bool _stopped;

    private ServeService(ServeOptions options, ILoggerFactory logs, FileStream folderLock)
    {
        _lock = folderLock;
        Options = options;
        _logs = logs;
        Log = logs.CreateLogger("tomalign.serve");
        Store = JobStore.Open(Path.Combine(options.Out, DatabaseName));
        Guard = new PathGuard(options.Watch, options.Out);
        Hosts = new HostFilter(options.Urls);
        Worker = new JobWorker(Store, options.Out, options.Workers, LogLevel.Information, logs.CreateLogger("tomalign.serve.worker"), options.GpuMemoryLimit);
    }

    public ServeOptions Options { get; }
    public JobStore Store { get; }
    public JobWorker Worker { get; }
    public PathGuard Guard { get; }
    /// <summary>The Host header values the API answers (loopback names and the hosts of --urls).</summary>
    public HostFilter Hosts { get; }
    public ILogger Log { get; }

    /// <summary>The address it listens on (the real port when the options asked for port 0).</summary>
    public string Address { get; private set; } = "";

    public static async Task<ServeService> StartAsync(ServeOptions options, ILoggerProvider logProvider, LogLevel level)
    {
        if (!Directory.Exists(options.Watch))
            throw new TomalignInputException(options.Watch, "is not a folder", "give an existing folder to --watch");
        if (options.Workers < 1) throw new TomalignInputException(null, $"--workers {options.Workers} is not a count", "use --workers 1 or more");
        if (options.Settle < TimeSpan.Zero) throw new TomalignInputException(null, "--settle is negative", "give the settle interval in seconds, e.g. --settle 5");
        ValidateUrls(options.Urls);
        Directory.CreateDirectory(options.Out);
        // One service per output folder (the lock goes with the process, even when it is killed).
        FileStream folderLock;
        try
        {
            folderLock = new FileStream(Path.Combine(options.Out, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new TomalignInputException(options.Out, "is used by another tomalign serve", "stop that service, or give another --out folder");
        }
        var logs = LoggerFactory.Create(b => b.SetMinimumLevel(level).AddProvider(logProvider));
        ServeService service;
        try
        {
            service = new ServeService(options with { Watch = Path.GetFullPath(options.Watch), Out = Path.GetFullPath(options.Out) }, logs, folderLock);
        }
        catch
        {
            logs.Dispose();
            folderLock.Dispose();
            throw;
        }
        try
        {
            await service.StartCoreAsync(logProvider, level);
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
        return service;
    }

    private async Task StartCoreAsync(ILoggerProvider logProvider, LogLevel level)
    {
        // On SLURM, jobs left running keep their tasks: they are re-attached (looked up in squeue), not submitted again.
        int requeued = Store.RequeueInterrupted(keepSlurm: Options.Slurm is not null);
        if (requeued > 0) Log.LogInformation("{Count} interrupted job(s) queued again, to resume from their last completed stage", requeued);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "tomalign", ContentRootPath = Options.Out, Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logProvider);
        builder.Logging.SetMinimumLevel(level);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // The service, not the web host, owns Ctrl-C and SIGTERM (it stops the workers first).
        builder.Services.AddSingleton<IHostLifetime, OwnedLifetime>();
        builder.WebHost.UseUrls(Options.Urls);
        var app = builder.Build();
        ServeApi.Map(app, this);
        try
        {
            await app.StartAsync();
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new TomalignInputException(null, $"cannot listen on {Options.Urls}: {e.Message}", "choose another port with --urls http://127.0.0.1:PORT");
        }
        _app = app;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        Address = addresses?.FirstOrDefault() ?? Options.Urls;
        if (addresses?.Any(a => !IsLoopback(a)) == true)
            Log.LogWarning("listening beyond this machine ({Urls}): anyone who can reach it can queue jobs", string.Join(", ", addresses));

        if (Options.Slurm is { } slurm)
        {
            _slurm = new Batch.SlurmExecutor(Store, Options.Out, slurm, _logs.CreateLogger("tomalign.serve.slurm"));
            Log.LogInformation("jobs go to SLURM (tasks run {Tomalign})", string.Join(' ', _slurm.TomalignCommand()));
            _slurmLoop = Task.Run(() => SlurmLoop(TimeSpan.FromSeconds(slurm.Slurm.PollSeconds), _stop.Token));
        }
        else Worker.Start();
        var watcher = new FolderWatcher(Options.Watch, Options.Settle, (stack, angles) => Queue(stack, angles, "found in the watched folder"), Store.HasStack,
            _logs.CreateLogger("tomalign.serve.watch"));
        var interval = TimeSpan.FromSeconds(Math.Clamp(Options.Settle.TotalSeconds / 2, 0.2, 2));
        _watching = Task.Run(() => watcher.RunAsync(interval, _stop.Token));
    }

    /// <summary>
    /// serve --executor slurm: looks at the SLURM tasks of running jobs (finished ones are recorded, lost ones queued
    /// again), then submits every queued job as one array; again every poll interval, or at once when a job is queued.
    /// </summary>
    private async Task SlurmLoop(TimeSpan poll, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (_slurm!.Poll()) _slurm.SubmitQueued();
            }
            catch (Exception e) when (e is Batch.SlurmException or TomalignInputException or IOException or Microsoft.Data.Sqlite.SqliteException)
            {
                Log.LogError("SLURM: {Message}; trying again in {Seconds} s", e.Message, poll.TotalSeconds);
            }
            try { await _slurmWake.WaitAsync(poll, stop); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>Cancels a running job: a local worker's, or its SLURM task; false when it is not running.</summary>
    public bool CancelRunning(long id)
    {
        if (_slurm is null) return Worker.CancelRunning(id);
        try { return _slurm.Cancel(id, "cancelled"); }
        catch (Batch.SlurmException e)
        {
            Log.LogError("job {Id}: {Message}", id, e.Message);
            return false;
        }
    }

    /// <summary>Tells the workers (or the SLURM loop) that a job was queued.</summary>
    public void Wake()
    {
        if (_slurm is null) Worker.Wake();
        else _slurmWake.Release();
    }

    /// <summary>Queues a series (once per stack path) with the service's settings; wakes a worker.</summary>
    public (Job Job, bool Added) Queue(string stack, string angles, string why)
    {
        var result = Store.Add(stack, angles, Options.Settings.ToJson());
        if (result.Added)
        {
            Log.LogInformation("job {Id} ({Name}) queued: {Stack} with {Angles} ({Why})", result.Job.Id, result.Job.Name, stack, Path.GetFileName(angles), why);
            Wake();
        }
        return result;
    }

    /// <summary>The output folder of a job.</summary>
    public string JobFolder(Job job) => Path.Combine(Options.Out, job.Name);

    /// <summary>Stops watching, stops the workers (their running stage may finish within the grace period), then the web server.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        Log.LogInformation("stopping: no new jobs; waiting up to {Grace} s for the running stage", Options.Grace.TotalSeconds);
        _stop.Cancel();
        await _watching;
        await _slurmLoop;   // SLURM's tasks go on: the next start re-attaches to them
        await Worker.StopAsync(Options.Grace);
        if (_app is not null) await _app.StopAsync(TimeSpan.FromSeconds(5));
        Log.LogInformation("stopped; the queue is in {Db}", Store.Path);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_app is not null) await _app.DisposeAsync();
        Store.Dispose();
        _logs.Dispose();
        await _lock.DisposeAsync();
    }

    /// <summary>
    /// Checks --urls before anything listens: each address (';'-separated) must be http:// or https:// with an IP address,
    /// localhost or a wildcard (*, +) as its host and a port from 0 to 65535. The web server would otherwise take a bad
    /// port or an unknown host name with only a warning and listen on every interface, port 80.
    /// </summary>
    internal static void ValidateUrls(string urls)
    {
        const string Fix = "give --urls as http://ADDRESS:PORT, e.g. http://127.0.0.1:5080 (this machine only), http://0.0.0.0:5080 (every interface) or port 0 for any free port";
        var parts = (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new TomalignInputException(null, "--urls is empty", Fix);
        foreach (string part in parts)
        {
            var m = System.Text.RegularExpressions.Regex.Match(part, @"^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?<host>\[[^\]]*\]|[^:/\[\]]*)(:(?<port>[^/]*))?(?<path>/.*)?$");
            if (!m.Success) throw new TomalignInputException(null, $"--urls '{part}' is not an address", Fix);
            string scheme = m.Groups["scheme"].Value.ToLowerInvariant(), host = m.Groups["host"].Value, port = m.Groups["port"].Value;
            if (scheme is not ("http" or "https"))
                throw new TomalignInputException(null, $"--urls '{part}': the scheme '{scheme}' is not http or https", Fix);
            if (!m.Groups["port"].Success || !int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) || p > 65535)
                throw new TomalignInputException(null, $"--urls '{part}': '{(m.Groups["port"].Success ? port : "")}' is not a port (0–65535)", Fix);
            bool ip = System.Net.IPAddress.TryParse(host.Trim('[', ']'), out _);
            if (!(ip || host is "*" or "+" || string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)))
                throw new TomalignInputException(null, $"--urls '{part}': '{host}' is not an IP address, localhost or a wildcard (a host name would listen on every interface)", Fix);
            if (m.Groups["path"].Success && m.Groups["path"].Value != "/")
                throw new TomalignInputException(null, $"--urls '{part}' has a path; the service is served at the root", Fix);
        }
    }

    private static bool IsLoopback(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.IsLoopback || uri.Host is "localhost");

    /// <summary>A host lifetime that waits for nothing and hooks no signal.</summary>
    private sealed class OwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
