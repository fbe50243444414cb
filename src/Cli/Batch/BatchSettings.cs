using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tomalign.Cli.Serve;
using Tomalign.Core;

namespace Tomalign.Cli.Batch;

/// <summary>
/// The sbatch options of a SLURM batch (the "slurm" object of the settings file). Every task asks for
/// <see cref="Cpus"/> CPUs, <see cref="Memory"/> and <see cref="Gpus"/> GPUs (as --gres=gpu[:TYPE]:N, or --gpus=N with
/// "gpuFlag": "gpus"), for at most <see cref="Time"/>; <see cref="Throttle"/> caps the tasks running at once (the array's %).
/// </summary>
internal sealed record SlurmOptions
{
    public string? Partition { get; init; }
    public string? Account { get; init; }
    public string? Qos { get; init; }
    /// <summary>Wall time of one task (sbatch --time): one series, with its retries done by new tasks.</summary>
    public string Time { get; init; } = "02:00:00";
    /// <summary>GPUs per task; default 1, or 0 when the settings' device is cpu.</summary>
    public int? Gpus { get; init; }
    /// <summary>"gres" (--gres=gpu:N, every SLURM) or "gpus" (--gpus=N, SLURM ≥ 19.05 with cons_tres).</summary>
    public string GpuFlag { get; init; } = "gres";
    /// <summary>A GPU type for --gres=gpu:TYPE:N (e.g. a100), or null for any.</summary>
    public string? GpuType { get; init; }
    public int Cpus { get; init; } = 4;
    /// <summary>Memory per task (sbatch --mem), e.g. 16G.</summary>
    public string Memory { get; init; } = "16G";
    /// <summary>At most this many tasks of the array at once (--array=...%N); null: no cap.</summary>
    public int? Throttle { get; init; }
    /// <summary>The tomalign every task runs (a path on the shared file system); null: this very binary.</summary>
    public string? Tomalign { get; init; }
    /// <summary>More sbatch arguments, as they are (e.g. "--constraint=a100", "--qos=high").</summary>
    public IReadOnlyList<string> Extra { get; init; } = [];
    /// <summary>Seconds between two looks at squeue while a batch waits.</summary>
    public double PollSeconds { get; init; } = 5;
    /// <summary>Environment commands run before tomalign in every task (e.g. "module load cuda/12").</summary>
    public IReadOnlyList<string> Setup { get; init; } = [];

    public static readonly string[] Fields =
        ["partition", "account", "qos", "time", "gpus", "gpuFlag", "gpuType", "cpus", "memory", "throttle", "tomalign", "extra", "pollSeconds", "setup"];

    public int GpusFor(string device) => Gpus ?? (device.Trim().ToLowerInvariant() is "cpu" or "ilgpu-cpu" ? 0 : 1);
}

/// <summary>
/// A batch's settings file: `serve`'s settings (the `run` options, <see cref="ServeSettings"/>), plus "retries" (how many
/// times a series whose run ended for a reason outside the series — a killed task, a lost node, an internal error — is
/// started again, resuming; default 2) and "slurm" (<see cref="SlurmOptions"/>). The same file serves `serve`.
/// </summary>
internal sealed record BatchSettings(ServeSettings Run, SlurmOptions Slurm, int Retries)
{
    public const int DefaultRetries = 2;

    public static BatchSettings Load(string? path)
    {
        if (path is null) return new BatchSettings(ServeSettings.Load(null), new SlurmOptions(), DefaultRetries);
        if (!File.Exists(path))
            throw new TomalignInputException(path, "does not exist", "give the settings JSON file (see README: serve and batch)");
        return Parse(File.ReadAllText(path), path);
    }

    public static BatchSettings Parse(string json, string? file)
    {
        var obj = Tomalign.Core.Pipeline.PipelineSpec.ParseObject(json, file);
        int retries = DefaultRetries;
        var slurm = new SlurmOptions();
        foreach (string key in obj.Select(p => p.Key).ToList())
        {
            if (key.Equals("retries", StringComparison.OrdinalIgnoreCase))
            {
                retries = Int(obj[key], "retries", file, 0, 100);
                obj.Remove(key);
            }
            else if (key.Equals("slurm", StringComparison.OrdinalIgnoreCase))
            {
                slurm = ParseSlurm(obj[key], file);
                obj.Remove(key);
            }
        }
        return new BatchSettings(ServeSettings.Parse(obj.ToJsonString(), file), slurm, retries);
    }

    private static SlurmOptions ParseSlurm(JsonNode? node, string? file)
    {
        if (node is not JsonObject o)
            throw new TomalignInputException(file, "field 'slurm' is not an object", "write it as \"slurm\": { \"partition\": \"gpu\", \"gpus\": 1, ... }");
        var s = new SlurmOptions();
        foreach (var (key, value) in o)
        {
            string k = SlurmOptions.Fields.FirstOrDefault(f => f.Equals(key, StringComparison.OrdinalIgnoreCase))
                       ?? throw new TomalignInputException(file, $"has an unknown field 'slurm.{key}'", $"use only {string.Join(", ", SlurmOptions.Fields)}");
            s = k switch
            {
                "partition" => s with { Partition = Str(value, k, file) },
                "account" => s with { Account = Str(value, k, file) },
                "qos" => s with { Qos = Str(value, k, file) },
                "time" => s with { Time = Str(value, k, file) ?? s.Time },
                "gpus" => s with { Gpus = Int(value, k, file, 0, 64) },
                "gpuFlag" => s with
                {
                    GpuFlag = Str(value, k, file) is "gres" or "gpus" ? Str(value, k, file)!
                        : throw new TomalignInputException(file, $"field 'slurm.gpuFlag' is {value?.ToJsonString()}", "give \"gres\" or \"gpus\""),
                },
                "gpuType" => s with { GpuType = Str(value, k, file) },
                "cpus" => s with { Cpus = Int(value, k, file, 1, 1024) },
                "memory" => s with { Memory = Str(value, k, file) ?? s.Memory },
                "throttle" => s with { Throttle = value is null ? null : Int(value, k, file, 1, 100000) },
                "tomalign" => s with { Tomalign = Str(value, k, file) },
                "extra" => s with { Extra = Strings(value, k, file) },
                "setup" => s with { Setup = Strings(value, k, file) },
                "pollSeconds" => s with { PollSeconds = Number(value, k, file, 0.1, 3600) },
                _ => throw new InvalidOperationException($"field {k} is not handled"),
            };
        }
        if (s.Time.Any(char.IsWhiteSpace) || s.Memory.Any(char.IsWhiteSpace))
            throw new TomalignInputException(file, "field 'slurm.time' or 'slurm.memory' has a space", "give them as sbatch takes them, e.g. \"02:00:00\" and \"16G\"");
        return s;
    }

    private static string? Str(JsonNode? v, string k, string? file)
    {
        if (v is null) return null;
        try { return v.GetValue<string>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new TomalignInputException(file, $"field 'slurm.{k}' has the wrong type ({v.ToJsonString()})", "give a string");
        }
    }

    private static IReadOnlyList<string> Strings(JsonNode? v, string k, string? file) =>
        v is JsonArray a ? a.Select(x => Str(x, k, file) ?? "").ToArray()
            : throw new TomalignInputException(file, $"field 'slurm.{k}' is not a list of strings", $"write it as \"{k}\": [\"...\"]");

    private static double Number(JsonNode? v, string k, string? file, double min, double max)
    {
        double x;
        try { x = v!.GetValue<double>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new TomalignInputException(file, $"field '{k}' has the wrong type ({v?.ToJsonString() ?? "null"})", "give a number");
        }
        if (!(x >= min && x <= max))
            throw new TomalignInputException(file, $"field '{k}' is {x.ToString(CultureInfo.InvariantCulture)}", $"give a number from {min} to {max}");
        return x;
    }

    private static int Int(JsonNode? v, string k, string? file, int min, int max)
    {
        double x = Number(v, k, file, min, max);
        if (x != Math.Floor(x)) throw new TomalignInputException(file, $"field '{k}' is {x.ToString(CultureInfo.InvariantCulture)}, not a whole number", "give a whole number");
        return (int)x;
    }
}
