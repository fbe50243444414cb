using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tomalign.Core.IO;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// What a file is, for deciding whether a stage's input or output is still the one it was made from: its length and
/// a SHA-256 of its content (the whole file up to 4 MiB; above that the first MiB — the header and the first views —,
/// 32 blocks of 64 KiB spread evenly over the rest, and the last 64 KiB). Content, not the path or the time: a series
/// copied to another folder (a batch node's scratch disk) still matches, another stack of the same name does not.
/// </summary>
public sealed record FileIdentity(long Length, string Hash)
{
    private const long WholeFileLimit = 4L << 20, HeadBytes = 1L << 20, BlockBytes = 64L << 10;
    private const int Blocks = 32;

    public static FileIdentity Of(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long length = stream.Length;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        void Hash(long offset, long count)
        {
            stream.Position = offset;
            while (count > 0)
            {
                int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
                if (n <= 0) break;
                sha.AppendData(buffer, 0, n);
                count -= n;
            }
        }
        if (length <= WholeFileLimit) Hash(0, length);
        else
        {
            Hash(0, HeadBytes);
            long span = length - HeadBytes - BlockBytes;
            for (int k = 0; k < Blocks; k++) Hash(HeadBytes + span * k / Blocks, BlockBytes);
            Hash(length - BlockBytes, BlockBytes);
        }
        return new FileIdentity(length, Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant());
    }

    public JsonObject ToJson(string? path = null)
    {
        var o = new JsonObject { ["length"] = Length, ["sha256"] = Hash };
        if (path is not null) o["path"] = Path.GetFullPath(path);
        return o;
    }

    public static FileIdentity? FromJson(JsonNode? node) =>
        node is JsonObject o && o["length"] is JsonValue l && o["sha256"] is JsonValue h ? new FileIdentity(l.GetValue<long>(), h.GetValue<string>()) : null;
}

/// <summary>
/// One completed stage as NAME.stages.json records it: its fingerprint (a hash of the upstream stage's fingerprint, the
/// identity of the files it read from outside the pipeline, and the options that affect it), those inputs and options in
/// plain words (to say what changed), the identity of every file it wrote, and the report results it produced (given
/// back to the report when the stage is reused).
/// </summary>
public sealed record StageRecord(string Name, string Fingerprint, string? Upstream, JsonObject Inputs, JsonObject Options, JsonObject Outputs,
    JsonObject Results, JsonArray Warnings, DateTimeOffset CompletedUtc)
{
    public JsonObject ToJson() => new()
    {
        ["name"] = Name,
        ["fingerprint"] = Fingerprint,
        ["upstream"] = Upstream,
        ["inputs"] = Inputs.DeepClone(),
        ["options"] = Options.DeepClone(),
        ["outputs"] = Outputs.DeepClone(),
        ["results"] = Results.DeepClone(),
        ["warnings"] = Warnings.DeepClone(),
        ["completedUtc"] = CompletedUtc.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };

    public static StageRecord? FromJson(JsonNode? node)
    {
        if (node is not JsonObject o || o["name"]?.GetValue<string>() is not { } name || o["fingerprint"]?.GetValue<string>() is not { } fp) return null;
        return new StageRecord(name, fp, o["upstream"]?.GetValue<string>(),
            o["inputs"] as JsonObject ?? [], o["options"] as JsonObject ?? [], o["outputs"] as JsonObject ?? [],
            o["results"] as JsonObject ?? [], o["warnings"] as JsonArray ?? [],
            DateTimeOffset.TryParse(o["completedUtc"]?.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.RoundtripKind, out var t) ? t : DateTimeOffset.MinValue);
    }

    /// <summary>The fingerprint of a stage: SHA-256 over its name, the upstream fingerprint, its inputs' identities and its options.</summary>
    public static string FingerprintOf(string name, string? upstream, JsonObject inputs, JsonObject options)
    {
        var identities = new JsonObject();
        foreach (var (key, value) in inputs)
            identities[key] = value is JsonObject f ? new JsonObject { ["length"] = f["length"]?.DeepClone(), ["sha256"] = f["sha256"]?.DeepClone() } : value?.DeepClone();
        string canonical = new JsonObject { ["stage"] = name, ["upstream"] = upstream, ["inputs"] = identities, ["options"] = options.DeepClone() }.ToJsonString();
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..32].ToLowerInvariant();
    }
}

/// <summary>
/// NAME.stages.json: the record of every completed stage of a run in its output folder, read by --resume and rewritten
/// (whole, atomically) as each stage completes. Safe to call from several threads (the aligned stack is finished on a
/// background task).
/// </summary>
public sealed class StageLedger
{
    private readonly object _gate = new();
    private readonly List<StageRecord> _records = [];

    private StageLedger(string path) => Path = path;

    public string Path { get; }

    /// <summary>The ledger at <paramref name="path"/>; empty when the file is missing or unreadable (then nothing is reused).</summary>
    public static StageLedger Load(string path)
    {
        var ledger = new StageLedger(path);
        if (!File.Exists(path)) return ledger;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is JsonObject root && root["stages"] is JsonArray stages)
                foreach (var s in stages)
                    if (StageRecord.FromJson(s) is { } r) ledger._records.Add(r);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or IOException)
        {
            ledger._records.Clear();
        }
        return ledger;
    }

    public StageRecord? Find(string name)
    {
        lock (_gate) return _records.FirstOrDefault(r => r.Name == name);
    }

    public IReadOnlyList<StageRecord> Records
    {
        get { lock (_gate) return _records.ToArray(); }
    }

    /// <summary>Records (or replaces) a completed stage and writes the ledger.</summary>
    public void Record(StageRecord record)
    {
        lock (_gate)
        {
            _records.RemoveAll(r => r.Name == record.Name);
            _records.Add(record);
            Save();
        }
    }

    /// <summary>Forgets a stage (it is being redone) and writes the ledger.</summary>
    public void Forget(string name)
    {
        lock (_gate)
        {
            if (_records.RemoveAll(r => r.Name == name) > 0) Save();
        }
    }

    /// <summary>Takes the identity of a stage's outputs again (a later stage rewrote one of them, e.g. the bead pass after the solve rewrites NAME.fid).</summary>
    public void RefreshOutputs(string name)
    {
        lock (_gate)
        {
            if (_records.FirstOrDefault(r => r.Name == name) is not { } r) return;
            var outputs = new JsonObject();
            foreach (var (file, _) in r.Outputs)
            {
                string path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, file);
                if (File.Exists(path)) outputs[file] = FileIdentity.Of(path).ToJson();
            }
            _records[_records.IndexOf(r)] = r with { Outputs = outputs };
            Save();
        }
    }

    private void Save()
    {
        var root = new JsonObject
        {
            ["tool"] = "tomalign",
            ["note"] = "What each completed stage was made from; --resume reuses a stage only when its fingerprint and its outputs still match.",
            ["stages"] = new JsonArray(_records.Select(r => (JsonNode)r.ToJson()).ToArray()),
        };
        AtomicFile.WriteAllText(Path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
