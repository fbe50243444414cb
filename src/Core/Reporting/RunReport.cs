using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tomalign.Core.Backend;
using Tomalign.Core.IO;
using Tomalign.Core.Quality;

namespace Tomalign.Core.Reporting;

/// <summary>
/// The JSON report every run writes beside its outputs: what ran, on which device, the time
/// of each stage, the files read and written, and the stage results (numbers people check).
/// </summary>
public sealed class RunReport
{
    private readonly Stopwatch _total = Stopwatch.StartNew();

    public RunReport(string command, IEnumerable<string> arguments)
    {
        Command = command;
        Arguments = arguments.ToList();
    }

    public string Tool { get; } = "tomalign";
    public string Version { get; } = typeof(RunReport).Assembly.GetName().Version?.ToString() ?? "0";
    public string Command { get; }
    public List<string> Arguments { get; }
    public DateTimeOffset StartedUtc { get; } = DateTimeOffset.UtcNow;
    public string Machine { get; } = $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {Environment.OSVersion}";
    public string? Device { get; set; }
    /// <summary>The quality verdict of the alignment and its reasons (absent for commands that do not align).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public QualityVerdict? Quality { get; set; }
    public List<StageTiming> Stages { get; } = new();
    public List<string> Inputs { get; } = new();
    public List<string> Outputs { get; } = new();
    public Dictionary<string, object?> Results { get; } = new();
    public List<string> Warnings { get; } = new();

    /// <summary>With --resume: which stages were reused and which redone, and why (see TiltSeriesPipeline); absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public object? Resume { get; set; }
    public double TotalSeconds => _total.Elapsed.TotalSeconds;

    /// <summary>The backend's device-memory meter (GPU backends); each stage then records its own peak.</summary>
    [JsonIgnore] public IDeviceMemoryMeter? DeviceMemory { get; set; }

    /// <summary>The most device memory the run's GPU backend held at once (bytes); absent on the CPU path.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? PeakDeviceBytes => DeviceMemory?.PeakBytes;

    /// <summary>The device-memory limit the run had (--gpu-memory, bytes); absent when none or on the CPU path.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? DeviceLimitBytes => DeviceMemory?.LimitBytes;

    /// <summary>Checked before every stage starts: a cancelled job stops at the next stage boundary.</summary>
    [JsonIgnore] public CancellationToken Cancel { get; set; }

    /// <summary>Told the name of each stage as it starts (the job service shows it as the job's stage).</summary>
    [JsonIgnore] public Action<string>? StageStarted { get; set; }

    /// <summary>Runs <paramref name="work"/> as a named stage and records its wall time.</summary>
    public T Stage<T>(string name, Func<T> work)
    {
        Cancel.ThrowIfCancellationRequested();
        StageStarted?.Invoke(name);
        var meter = DeviceMemory;
        meter?.ResetWindow();
        var sw = Stopwatch.StartNew();
        try { return work(); }
        finally { Stages.Add(new StageTiming(name, sw.Elapsed.TotalSeconds, meter?.WindowPeakBytes)); }
    }

    public void Stage(string name, Action work) => Stage<object?>(name, () => { work(); return null; });

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Writes the report atomically to <paramref name="path"/>.</summary>
    public void Write(string path)
    {
        Outputs.Add(Path.GetFullPath(path));
        AtomicFile.WriteAllText(path, ToJson());
    }
}

/// <param name="PeakDeviceBytes">the most device memory held at once during the stage (GPU backends).</param>
public sealed record StageTiming(string Name, double Seconds,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? PeakDeviceBytes = null);
