using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tomalign.Core;

namespace Tomalign.Cli.Serve;

/// <summary>
/// How `serve` processes every series: the `run` options, read from the --settings JSON file
/// (field names below; unknown fields are an error, so a typo is not silently ignored). Each job
/// keeps a copy of the settings it was queued with.
/// </summary>
internal sealed record ServeSettings
{
    /// <summary>Tilt-axis angle in degrees; null: searched by the coarse correlation ("auto").</summary>
    public double? TiltAxis { get; init; }
    public bool Markerless { get; init; }
    public double? BeadDiameter { get; init; }
    public int Beads { get; init; } = 25;
    public int Thickness { get; init; } = 100;
    public string Method { get; init; } = "wbp";
    public int Iterations { get; init; } = 15;
    public int Bin { get; init; } = 1;
    public bool Log { get; init; }
    public string Device { get; init; } = "auto";
    /// <summary>run's --axis-profiles: auto, on or off.</summary>
    public string AxisProfiles { get; init; } = "auto";

    /// <summary>The field names, as written in the settings file.</summary>
    public static readonly string[] Fields =
        ["tiltAxis", "markerless", "beadDiameter", "beads", "thickness", "method", "iterations", "bin", "log", "device", "axisProfiles"];

    /// <summary>Reads and checks a settings file; no file: the defaults (markerless, thickness 100, WBP).</summary>
    public static ServeSettings Load(string? path)
    {
        if (path is null) return new ServeSettings { Markerless = true }.Checked(null);
        if (!File.Exists(path))
            throw new TomalignInputException(path, "does not exist", "give the settings JSON file (see README, tomalign serve)");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses settings JSON; <paramref name="file"/> names the source in error messages.</summary>
    public static ServeSettings Parse(string json, string? file)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(json) as JsonObject
                ?? throw new TomalignInputException(file, "is not a JSON object", "write the settings as { \"thickness\": 100, ... }");
        }
        catch (JsonException e)
        {
            throw new TomalignInputException(file, $"is not valid JSON ({e.Message})", "fix the JSON syntax of the settings");
        }
        var s = new ServeSettings();
        bool markerlessGiven = false;
        foreach (var (key, node) in obj)
        {
            string k = Fields.FirstOrDefault(f => f.Equals(key, StringComparison.OrdinalIgnoreCase))
                ?? throw new TomalignInputException(file, $"has an unknown field '{key}'", $"use only {string.Join(", ", Fields)}");
            if (node is null && k != "beadDiameter")
                throw new TomalignInputException(file, $"field '{k}' is null", "give it a value, or leave the field out for its default");
            try
            {
                s = k switch
                {
                    "tiltAxis" => s with { TiltAxis = node is JsonValue v && v.TryGetValue(out string? text) ? Commands.ParseTiltAxis(text) : node!.GetValue<double>() },
                    "markerless" => s with { Markerless = node!.GetValue<bool>() },
                    "beadDiameter" => s with { BeadDiameter = node is null ? null : node.GetValue<double>() },
                    "beads" => s with { Beads = node!.GetValue<int>() },
                    "thickness" => s with { Thickness = node!.GetValue<int>() },
                    "method" => s with { Method = node!.GetValue<string>() },
                    "iterations" => s with { Iterations = node!.GetValue<int>() },
                    "bin" => s with { Bin = node!.GetValue<int>() },
                    "log" => s with { Log = node!.GetValue<bool>() },
                    "axisProfiles" => s with { AxisProfiles = node!.GetValue<string>() },
                    _ => s with { Device = node!.GetValue<string>() },
                };
                markerlessGiven |= k == "markerless";
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
        // Without beads the series is aligned markerless, unless the file says otherwise.
        if (!markerlessGiven && s.BeadDiameter is null) s = s with { Markerless = true };
        return s.Checked(file);
    }

    private ServeSettings Checked(string? file)
    {
        try
        {
            Commands.RequireOneLandmarkKind(Markerless, BeadDiameter);
            Commands.ReconstructionOptionsFor(Thickness, Method, Iterations, Log);
            Commands.ParseDevice(Device);
            Commands.ParseAxisProfiles(AxisProfiles);
            if (Bin < 1) throw new TomalignInputException(null, $"bin {Bin} is not a binning factor", "use bin 1 or more");
            if (Beads < 1) throw new TomalignInputException(null, $"beads {Beads} is not a count", "use beads 1 or more");
            if (BeadDiameter is { } d && !(d > 0)) throw new TomalignInputException(null, $"beadDiameter {d} is not a size", "give the bead diameter in pixels");
        }
        catch (TomalignInputException e) when (file is not null)
        {
            throw new TomalignInputException(file, e.Problem.Replace("--", ""), e.Fix.Replace("--", "the field "));
        }
        return this;
    }

    /// <summary>The settings as JSON, readable by <see cref="Parse"/> (kept with every job).</summary>
    public string ToJson() => new JsonObject
    {
        ["tiltAxis"] = TiltAxis is { } a ? JsonValue.Create(a) : JsonValue.Create("auto"),
        ["markerless"] = Markerless,
        ["beadDiameter"] = BeadDiameter,
        ["beads"] = Beads,
        ["thickness"] = Thickness,
        ["method"] = Method,
        ["iterations"] = Iterations,
        ["bin"] = Bin,
        ["log"] = Log,
        ["device"] = Device,
        ["axisProfiles"] = AxisProfiles,
    }.ToJsonString();

    /// <summary>The `run` job these settings describe.</summary>
    public Commands.RunSpec ToSpec(string stack, string angles, string dir, string name, bool resume) =>
        new(stack, angles, TiltAxis, Markerless, Markerless ? null : BeadDiameter, Beads,
            Commands.ReconstructionOptionsFor(Thickness, Method, Iterations, Log), Bin, dir, name, resume, AxisProfiles: AxisProfiles);

    /// <summary>The `tomalign run` command line that does the same job (recorded in the job's report).</summary>
    public IEnumerable<string> RunArguments(string stack, string angles, string dir, string name, bool resume)
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        yield return "run";
        yield return stack;
        yield return "--angles"; yield return angles;
        yield return "--tilt-axis"; yield return TiltAxis is { } a ? F(a) : "auto";
        if (Markerless) yield return "--markerless";
        else { yield return "--bead-diameter"; yield return F(BeadDiameter!.Value); }
        yield return "--thickness"; yield return Thickness.ToString(CultureInfo.InvariantCulture);
        yield return "--method"; yield return Method;
        yield return "--iterations"; yield return Iterations.ToString(CultureInfo.InvariantCulture);
        yield return "--bin"; yield return Bin.ToString(CultureInfo.InvariantCulture);
        if (Log) yield return "--log";
        yield return "--axis-profiles"; yield return AxisProfiles;
        if (resume) yield return "--resume";
        yield return "--name"; yield return name;
        yield return "--out"; yield return dir;
        yield return "--device"; yield return Device;
    }
}
