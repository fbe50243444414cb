using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tomalign.Core.Backend;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// One run of <see cref="TiltSeriesPipeline"/>: every option of `align` and `run` in one immutable record, checked
/// once by <see cref="Validate"/>, read from and written to JSON (<see cref="FromJson"/>, <see cref="ToJson"/>) with
/// the field names of `serve`'s settings file. <see cref="Thickness"/> null: align only (coarse → landmarks → solve);
/// otherwise the whole job with the aligned stack and the tomogram. The values are kept as the user writes them
/// (e.g. "per-view", "auto"), so that the JSON, the command line and the run report say the same thing.
/// </summary>
public sealed record PipelineSpec
{
    // --- The series and where its outputs go (a serve job fills these per series).
    /// <summary>The raw tilt series (MRC).</summary>
    public string Stack { get; init; } = "";
    /// <summary>Nominal tilt angles, one per view (.rawtlt/.tlt).</summary>
    public string Angles { get; init; } = "";
    /// <summary>SerialEM's .mdoc (or a folder or pattern of per-tilt mdocs): angles when <see cref="Angles"/> is empty, and the dose,
    /// acquisition order, tilt axis and pixel size; null: STACK.mdoc or NAME.mdoc beside the stack when there is one.</summary>
    public string? Mdoc { get; init; }
    /// <summary>Take the tilt axis from the mdoc's (or the extended header's) "Tilt axis angle" (--tilt-axis not given, or "mdoc").</summary>
    public bool TiltAxisFromMetadata { get; init; }
    /// <summary>Folder of every output.</summary>
    public string Out { get; init; } = "";
    /// <summary>Base name of the outputs; null: the stack's name without its extension.</summary>
    public string? Name { get; init; }
    /// <summary>Reuse the stages whose record (NAME.stages.json) matches this input and these options.</summary>
    public bool Resume { get; init; }

    // --- Alignment.
    /// <summary>Tilt-axis angle in the raw image (degrees); null: searched by the coarse correlation ("auto").</summary>
    public double? TiltAxis { get; init; }
    /// <summary>Landmarks from patch tracking (exactly one of this and <see cref="BeadDiameter"/>).</summary>
    public bool Markerless { get; init; }
    /// <summary>Gold bead diameter in pixels: landmarks from bead tracking.</summary>
    public double? BeadDiameter { get; init; }
    /// <summary>Beads to seed and track.</summary>
    public int Beads { get; init; } = 25;
    /// <summary>Beads: the gold is lighter than the background (inverted contrast).</summary>
    public bool LightBeads { get; init; }
    /// <summary>Beads: mark each bead's surface in NAME.fid.</summary>
    public bool TwoSurfaces { get; init; }
    /// <summary>Solve: rotation variables (fixed, per-view, global, grouped:N, linear:N, auto).</summary>
    public string Rotation { get; init; } = "per-view";
    /// <summary>Solve: tilt-angle variables.</summary>
    public string Tilt { get; init; } = "auto";
    /// <summary>Solve: magnification variables.</summary>
    public string Mag { get; init; } = "auto";
    /// <summary>Solve: X-stretch variables (fixed, per-view, global, grouped:N, linear:N, auto); --distortion: grouped:7.</summary>
    public string XStretch { get; init; } = "fixed";
    /// <summary>Solve: skew variables (as <see cref="XStretch"/>); --distortion: grouped:11.</summary>
    public string Skew { get; init; } = "fixed";
    /// <summary>Level the specimen (tilt-angle offset).</summary>
    public bool Level { get; init; }
    /// <summary>Local alignments (tiltalign's, with etomo's usual settings): NAMElocal.xf, and the tomogram backprojected through them.</summary>
    public bool Local { get; init; }
    /// <summary>The axis-profile refinement after the solve: auto, on or off.</summary>
    public string AxisProfiles { get; init; } = "auto";
    /// <summary>Views to leave out, IMOD's 1-based list syntax ("1-3,40"); null: none beyond those the screening finds.</summary>
    public string? ExcludeViews { get; init; }
    /// <summary>Solve: the prior that ties the solved tilts to the nominal ones (auto, off, or an SD in degrees).</summary>
    public string TiltPrior { get; init; } = "auto";
    /// <summary>Solve: the tilt axis (the views' mean rotation) free, held at the given one, or auto (<see cref="Solve.AxisHoldMode"/>).</summary>
    public string TiltAxisHold { get; init; } = "free";

    // --- Aligned stack and tomogram (null thickness: align only).
    /// <summary>Tomogram thickness in (binned) voxels; null: align only, no aligned stack and no tomogram.</summary>
    public int? Thickness { get; init; }
    /// <summary>wbp or sirt.</summary>
    public string Method { get; init; } = "wbp";
    public int Iterations { get; init; } = 15;
    /// <summary>Binning of the aligned stack and the tomogram.</summary>
    public int Bin { get; init; } = 1;
    /// <summary>Reconstruct −ln(value).</summary>
    public bool Log { get; init; }

    /// <summary>Where heavy work runs: auto, cpu, cuda, opencl, ilgpu-cpu (the caller creates the backend from it).</summary>
    public string Device { get; init; } = "auto";

    /// <summary>The most aligned stack kept in memory for the reconstruction (bytes); null: a quarter of the available memory; 0: always
    /// write it and read it back. Not part of the JSON (a property of the machine, not of the job).</summary>
    public long? AlignedStackMemoryBytes { get; init; }

    /// <summary>The base name of the outputs.</summary>
    public string BaseName => Name ?? Path.GetFileNameWithoutExtension(Stack);

    /// <summary>True when the run goes on to the aligned stack and the tomogram.</summary>
    public bool Reconstructs => Thickness is not null;

    /// <summary>The path of an output: OUT/NAME + <paramref name="suffix"/>.</summary>
    public string OutputPath(string suffix) => System.IO.Path.Combine(Out, BaseName + suffix);

    /// <summary>The robust solve these options ask for.</summary>
    public SolveOptions SolveOptions() => new()
    {
        Rotation = VariableOption.Parse(Rotation, "--rotation"),
        Tilt = VariableOption.Parse(Tilt, "--tilt"),
        Magnification = VariableOption.Parse(Mag, "--mag"),
        XStretch = VariableOption.Parse(XStretch, "--xstretch"),
        Skew = VariableOption.Parse(Skew, "--skew"),
        Robust = true,
        Level = Level,
        TiltPrior = TiltPriorOption.Parse(TiltPrior, "--tilt-prior"),
        AxisHold = ParseTiltAxisHold(TiltAxisHold),
    };

    /// <summary>--tilt-axis-hold: free, held or auto.</summary>
    public static AxisHoldMode ParseTiltAxisHold(string mode) => mode.Trim().ToLowerInvariant() switch
    {
        "free" or "off" => AxisHoldMode.Free,
        "held" or "hold" or "on" => AxisHoldMode.Held,
        "auto" => AxisHoldMode.Auto,
        var m => throw new TomalignInputException(null, $"--tilt-axis-hold {m} is not a choice", "use --tilt-axis-hold free, held or auto"),
    };

    /// <summary>The reconstruction these options ask for (<see cref="Thickness"/> must be set).</summary>
    public ReconstructionOptions ReconstructionOptions() =>
        ReconstructionOptionsFor(Thickness ?? throw new InvalidOperationException("an align-only specification has no reconstruction"), Method, Iterations, Log);

    /// <summary>--axis-profiles as true (on), false (off) or null (auto).</summary>
    public bool? AxisProfilesMode() => ParseAxisProfiles(AxisProfiles);

    /// <summary>
    /// Checks every option; a bad one is a <see cref="TomalignInputException"/> naming the command-line option and the fix.
    /// <paramref name="requireFiles"/> false: settings only (serve's settings file has no stack, angles or output folder).
    /// Returns this specification.
    /// </summary>
    public PipelineSpec Validate(bool requireFiles = true)
    {
        if (requireFiles)
        {
            if (string.IsNullOrWhiteSpace(Stack)) throw new TomalignInputException(null, "no stack was given", "give the raw tilt series (STACK)");
            // No angle file: the angles come from --mdoc, an mdoc beside the stack or the MRC extended header (SeriesMetadata.Resolve says when none has them).
            if (string.IsNullOrWhiteSpace(Out)) throw new TomalignInputException(null, "no output folder was given", "give --out DIR");
            RequireBaseName(BaseName);
        }
        RequireOneLandmarkKind(Markerless, BeadDiameter);
        if (BeadDiameter is { } d && !(d > 0 && double.IsFinite(d)))
            throw new TomalignInputException(null, $"--bead-diameter {d.ToString(CultureInfo.InvariantCulture)} is not a size", "give the bead diameter in pixels, e.g. --bead-diameter 10");
        if (Beads < 1) throw new TomalignInputException(null, $"--beads {Beads} is not a count", "use --beads 1 or more");
        if (TiltAxis is { } a && !double.IsFinite(a))
            throw new TomalignInputException(null, "--tilt-axis is not a number", "give the tilt-axis angle in degrees (e.g. --tilt-axis 85) or --tilt-axis auto");
        SolveOptions();
        ParseAxisProfiles(AxisProfiles);
        ParseDevice(Device);
        if (Thickness is { } t)
        {
            ReconstructionOptionsFor(t, Method, Iterations, Log);
            if (Bin < 1) throw new TomalignInputException(null, $"--bin {Bin} is not a binning factor", "use --bin 1 or more");
            if (Local && Method.Trim().ToLowerInvariant() == "sirt")
                throw new TomalignInputException(null, "--local reconstructs by WBP only (SIRT with local alignments is not supported, as in IMOD's tilt)", "use --method wbp with --local, or leave out --local");
        }
        return this;
    }

    // ---------------------------------------------------------------- JSON

    /// <summary>The settings fields: everything but the series and its output folder (serve's settings file, a batch's defaults).</summary>
    public static readonly string[] SettingsFields =
        ["tiltAxis", "markerless", "beadDiameter", "beads", "lightBeads", "twoSurfaces", "excludeViews", "rotation", "tilt", "mag", "xstretch", "skew", "tiltPrior", "tiltAxisHold", "level", "local", "axisProfiles",
         "thickness", "method", "iterations", "bin", "log", "device"];

    /// <summary>Every field of the JSON form.</summary>
    public static readonly string[] Fields = ["stack", "angles", "mdoc", "out", "name", "resume", .. SettingsFields];

    /// <summary>The specification as a JSON object (every field; tiltAxis "auto" when searched; thickness absent when align only).</summary>
    public JsonObject ToJsonObject(bool settingsOnly = false)
    {
        var o = new JsonObject();
        if (!settingsOnly)
        {
            o["stack"] = Stack;
            o["angles"] = Angles;
            if (Mdoc is { } md) o["mdoc"] = md;
            o["out"] = Out;
            o["name"] = Name;
            o["resume"] = Resume;
        }
        o["tiltAxis"] = TiltAxisFromMetadata ? JsonValue.Create("mdoc") : TiltAxis is { } a ? JsonValue.Create(a) : JsonValue.Create("auto");
        o["markerless"] = Markerless;
        o["beadDiameter"] = BeadDiameter;
        o["beads"] = Beads;
        if (LightBeads) o["lightBeads"] = true;
        o["twoSurfaces"] = TwoSurfaces;
        o["rotation"] = Rotation;
        o["tilt"] = Tilt;
        o["mag"] = Mag;
        if (XStretch != "fixed") o["xstretch"] = XStretch;
        if (Skew != "fixed") o["skew"] = Skew;
        o["tiltPrior"] = TiltPrior;
        if (TiltAxisHold != "free") o["tiltAxisHold"] = TiltAxisHold;
        if (ExcludeViews is { } ev) o["excludeViews"] = ev;
        o["level"] = Level;
        if (Local) o["local"] = true;
        o["axisProfiles"] = AxisProfiles;
        if (Thickness is { } t) o["thickness"] = t;
        o["method"] = Method;
        o["iterations"] = Iterations;
        o["bin"] = Bin;
        o["log"] = Log;
        o["device"] = Device;
        return o;
    }

    public string ToJson(bool indented = false) => ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = indented });

    /// <summary>
    /// Reads a specification (or, with <paramref name="allowed"/> = <see cref="SettingsFields"/>, settings) from JSON onto
    /// <paramref name="defaults"/>. Unknown fields and wrong types are errors naming <paramref name="file"/> and the field, so
    /// that a typo is not silently ignored. Does not <see cref="Validate"/>; see <see cref="FromJson"/>.
    /// </summary>
    public static PipelineSpec ReadJson(string json, string? file, IReadOnlyCollection<string>? allowed = null, PipelineSpec? defaults = null,
        ICollection<string>? given = null)
    {
        allowed ??= Fields;
        var obj = ParseObject(json, file);
        var s = defaults ?? new PipelineSpec();
        foreach (var (key, node) in obj)
        {
            string k = allowed.FirstOrDefault(f => f.Equals(key, StringComparison.OrdinalIgnoreCase))
                ?? throw new TomalignInputException(file, $"has an unknown field '{key}'", $"use only {string.Join(", ", allowed)}");
            if (node is null && k is not ("beadDiameter" or "name" or "thickness"))
                throw new TomalignInputException(file, $"field '{k}' is null", "give it a value, or leave the field out for its default");
            try
            {
                s = k switch
                {
                    "stack" => s with { Stack = node!.GetValue<string>() },
                    "angles" => s with { Angles = node!.GetValue<string>() },
                    "mdoc" => s with { Mdoc = node!.GetValue<string>() },
                    "out" => s with { Out = node!.GetValue<string>() },
                    "name" => s with { Name = node?.GetValue<string>() },
                    "resume" => s with { Resume = node!.GetValue<bool>() },
                    "tiltAxis" => node is JsonValue mv && mv.TryGetValue(out string? mt) && IsMetadataAxis(mt)
                        ? s with { TiltAxis = null, TiltAxisFromMetadata = true }
                        : s with { TiltAxis = node is JsonValue v && v.TryGetValue(out string? text) ? ParseTiltAxis(text) : node!.GetValue<double>(), TiltAxisFromMetadata = false },
                    "markerless" => s with { Markerless = node!.GetValue<bool>() },
                    "beadDiameter" => s with { BeadDiameter = node?.GetValue<double>() },
                    "beads" => s with { Beads = node!.GetValue<int>() },
                    "lightBeads" => s with { LightBeads = node!.GetValue<bool>() },
                    "twoSurfaces" => s with { TwoSurfaces = node!.GetValue<bool>() },
                    "rotation" => s with { Rotation = node!.GetValue<string>() },
                    "tilt" => s with { Tilt = node!.GetValue<string>() },
                    "mag" => s with { Mag = node!.GetValue<string>() },
                    "xstretch" => s with { XStretch = node!.GetValue<string>() },
                    "skew" => s with { Skew = node!.GetValue<string>() },
                    "level" => s with { Level = node!.GetValue<bool>() },
                    "local" => s with { Local = node!.GetValue<bool>() },
                    "excludeViews" => s with { ExcludeViews = node?.GetValue<string>() },
                    "tiltPrior" => s with { TiltPrior = node is JsonValue tv && tv.TryGetValue(out double sd) ? sd.ToString("R", CultureInfo.InvariantCulture) : node!.GetValue<string>() },
                    "axisProfiles" => s with { AxisProfiles = node!.GetValue<string>() },
                    "tiltAxisHold" => s with { TiltAxisHold = node!.GetValue<string>() },
                    "thickness" => s with { Thickness = node?.GetValue<int>() },
                    "method" => s with { Method = node!.GetValue<string>() },
                    "iterations" => s with { Iterations = node!.GetValue<int>() },
                    "bin" => s with { Bin = node!.GetValue<int>() },
                    "log" => s with { Log = node!.GetValue<bool>() },
                    "device" => s with { Device = node!.GetValue<string>() },
                    _ => throw new InvalidOperationException($"field {k} is not handled"),
                };
                given?.Add(k);
            }
            catch (TomalignInputException e) when (e.File is null)
            {
                throw new TomalignInputException(file, e.Problem.Replace("--tilt-axis", k), "give degrees or \"auto\"");
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new TomalignInputException(file, $"field '{k}' has the wrong type ({node?.ToJsonString() ?? "null"})",
                    k == "tiltAxis" ? "give degrees or \"auto\"" : "give a number, true/false or a string as the README shows");
            }
        }
        return s;
    }

    /// <summary>Settings text as a JSON object; not JSON, or not an object, is an error naming <paramref name="file"/>.</summary>
    public static JsonObject ParseObject(string json, string? file)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject
                ?? throw new TomalignInputException(file, "is not a JSON object", "write the settings as { \"thickness\": 100, ... }");
        }
        catch (JsonException e)
        {
            throw new TomalignInputException(file, $"is not valid JSON ({e.Message})", "fix the JSON syntax of the settings");
        }
    }

    /// <summary>Reads and validates a whole specification; errors name <paramref name="file"/> and the field.</summary>
    public static PipelineSpec FromJson(string json, string? file = null) => ReadJson(json, file).ValidatedFor(file, requireFiles: true);

    /// <summary><see cref="Validate"/>, with the command-line wording of an error turned into the JSON field's when <paramref name="file"/> is given.</summary>
    public PipelineSpec ValidatedFor(string? file, bool requireFiles)
    {
        try
        {
            return Validate(requireFiles);
        }
        catch (TomalignInputException e) when (file is not null)
        {
            throw new TomalignInputException(file, e.Problem.Replace("--", ""), e.Fix.Replace("--", "the field "));
        }
    }

    /// <summary>The `tomalign align` or `tomalign run` command line that does this job (recorded in its report).</summary>
    public IEnumerable<string> ToArguments()
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        yield return Reconstructs ? "run" : "align";
        yield return Stack;
        if (!string.IsNullOrEmpty(Angles)) { yield return "--angles"; yield return Angles; }
        if (Mdoc is { } md) { yield return "--mdoc"; yield return md; }
        yield return "--tilt-axis"; yield return TiltAxisFromMetadata ? "mdoc" : TiltAxis is { } a ? F(a) : "auto";
        if (Markerless) yield return "--markerless";
        else if (BeadDiameter is { } d)
        {
            yield return "--bead-diameter"; yield return F(d);
            yield return "--beads"; yield return I(Beads);
            if (LightBeads) yield return "--light-beads";
            if (TwoSurfaces) yield return "--two-surfaces";
        }
        if (Rotation != "per-view") { yield return "--rotation"; yield return Rotation; }
        if (Tilt != "auto") { yield return "--tilt"; yield return Tilt; }
        if (Mag != "auto") { yield return "--mag"; yield return Mag; }
        if (TiltPrior != "auto") { yield return "--tilt-prior"; yield return TiltPrior; }
        if (TiltAxisHold != "free") { yield return "--tilt-axis-hold"; yield return TiltAxisHold; }
        if (ExcludeViews is { } ev) { yield return "--exclude-views"; yield return ev; }
        if (Level) yield return "--level";
        if (Local) yield return "--local";
        if (Thickness is { } t)
        {
            yield return "--thickness"; yield return I(t);
            yield return "--method"; yield return Method;
            yield return "--iterations"; yield return I(Iterations);
            yield return "--bin"; yield return I(Bin);
            if (Log) yield return "--log";
        }
        yield return "--axis-profiles"; yield return AxisProfiles;
        if (Resume) yield return "--resume";
        yield return "--name"; yield return BaseName;
        yield return "--out"; yield return Out;
        yield return "--device"; yield return Device;
    }

    // ---------------------------------------------------------------- option parsing, shared with the command line

    /// <summary>--tilt-axis mdoc (or metadata): the axis the mdoc or the MRC extended header gives.</summary>
    public static bool IsMetadataAxis(string? text) => text is not null && text.Trim().ToLowerInvariant() is "mdoc" or "metadata" or "header";

    /// <summary>--tilt-axis: degrees, or auto (null: search it).</summary>
    public static double? ParseTiltAxis(string text)
    {
        if (string.Equals(text.Trim(), "auto", StringComparison.OrdinalIgnoreCase)) return null;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double a) && double.IsFinite(a)) return a;
        throw new TomalignInputException(null, $"--tilt-axis '{text}' is neither an angle nor auto", "give the tilt-axis angle in degrees (e.g. --tilt-axis 85) or --tilt-axis auto");
    }

    /// <summary>--axis-profiles as true (on), false (off) or null (auto: decided by the estimated thickness, for markerless landmarks).</summary>
    public static bool? ParseAxisProfiles(string mode) => mode.Trim().ToLowerInvariant() switch
    {
        "auto" => null,
        "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        var m => throw new TomalignInputException(null, $"--axis-profiles {m} is not a choice", "use --axis-profiles auto, on or off"),
    };

    /// <summary>--device.</summary>
    public static DeviceKind ParseDevice(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => DeviceKind.Auto,
        "cpu" => DeviceKind.Cpu,
        "cuda" or "gpu" => DeviceKind.Cuda,
        "opencl" => DeviceKind.OpenCL,
        "ilgpu-cpu" => DeviceKind.IlgpuCpu,
        _ => throw new TomalignInputException(null, $"unknown device '{text}'", "use --device auto, cpu, cuda, opencl or ilgpu-cpu"),
    };

    /// <summary>align and run take exactly one landmark kind.</summary>
    public static void RequireOneLandmarkKind(bool markerless, double? beadDiameter)
    {
        if (markerless == beadDiameter.HasValue)
            throw new TomalignInputException(null, markerless ? "both --markerless and --bead-diameter were given" : "no landmark kind was chosen",
                "give either --markerless or --bead-diameter PX");
    }

    /// <summary>The base name of a command's outputs: a plain file name, or an input error naming the fix.</summary>
    public static string RequireBaseName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) >= 0)
            throw new TomalignInputException(null, $"--name '{name}' is not a file name", "give a plain name without folders, e.g. --name series1");
        return name;
    }

    /// <summary>Reconstruction options from the run options; bad values are an input error naming the fix.</summary>
    public static ReconstructionOptions ReconstructionOptionsFor(int thickness, string method, int iterations, bool log)
    {
        var options = new ReconstructionOptions
        {
            Thickness = thickness,
            Method = method.Trim().ToLowerInvariant() switch
            {
                "wbp" => ReconstructionMethod.Wbp,
                "sirt" => ReconstructionMethod.Sirt,
                var m => throw new TomalignInputException(null, $"unknown method '{m}'", "use --method wbp or --method sirt"),
            },
            Iterations = iterations,
            Log = log,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "check the run options (tomalign run --help)"); }
        return options;
    }
}
