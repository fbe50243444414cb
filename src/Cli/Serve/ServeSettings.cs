using Tomalign.Core;
using Tomalign.Core.Pipeline;

namespace Tomalign.Cli.Serve;

/// <summary>
/// How `serve` processes every series: the settings fields of a <see cref="PipelineSpec"/> (the `run` options, same field
/// names as its JSON: <see cref="PipelineSpec.SettingsFields"/>), read from the --settings JSON file; unknown fields are
/// an error, so a typo is not silently ignored. Each job keeps a copy of the settings it was queued with, and becomes the
/// specification <see cref="ToSpec"/> with its stack, angles and output folder.
/// </summary>
internal sealed record ServeSettings
{
    /// <summary>The settings as a specification without its series (thickness 100 unless given: serve always reconstructs).</summary>
    public PipelineSpec Spec { get; init; } = new() { Markerless = true, Thickness = DefaultThickness };

    public const int DefaultThickness = 100;

    /// <summary>Tilt-axis angle in degrees; null: searched by the coarse correlation ("auto").</summary>
    public double? TiltAxis => Spec.TiltAxis;
    public bool Markerless => Spec.Markerless;
    public double? BeadDiameter => Spec.BeadDiameter;
    public int Beads => Spec.Beads;
    public int Thickness => Spec.Thickness ?? DefaultThickness;
    public string Method => Spec.Method;
    public int Iterations => Spec.Iterations;
    public int Bin => Spec.Bin;
    public bool Log => Spec.Log;
    public string Device => Spec.Device;
    /// <summary>run's --axis-profiles: auto, on or off.</summary>
    public string AxisProfiles => Spec.AxisProfiles;

    /// <summary>The field names, as written in the settings file.</summary>
    public static IReadOnlyList<string> Fields => PipelineSpec.SettingsFields;

    /// <summary>Reads and checks a settings file; no file: the defaults (markerless, thickness 100, WBP).</summary>
    public static ServeSettings Load(string? path)
    {
        if (path is null) return new ServeSettings { Spec = new ServeSettings().Spec.Validate(requireFiles: false) };
        if (!File.Exists(path))
            throw new TomalignInputException(path, "does not exist", "give the settings JSON file (see README, tomalign serve)");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses settings JSON; <paramref name="file"/> names the source in error messages.</summary>
    public static ServeSettings Parse(string json, string? file)
    {
        var given = new HashSet<string>();
        var spec = PipelineSpec.ReadJson(json, file, PipelineSpec.SettingsFields, new PipelineSpec { Thickness = DefaultThickness }, given);
        if (spec.Thickness is null)
            throw new TomalignInputException(file, "field 'thickness' is null", "give it a value, or leave the field out for its default");
        // Without beads the series is aligned markerless, unless the file says otherwise.
        if (!given.Contains("markerless") && spec.BeadDiameter is null) spec = spec with { Markerless = true };
        return new ServeSettings { Spec = spec.ValidatedFor(file, requireFiles: false) };
    }

    /// <summary>The settings as JSON, readable by <see cref="Parse"/> (kept with every job).</summary>
    public string ToJson() => Spec.ToJsonObject(settingsOnly: true).ToJsonString();

    /// <summary>The `run` job these settings describe.</summary>
    public PipelineSpec ToSpec(string stack, string angles, string dir, string name, bool resume) =>
        Spec with { Stack = stack, Angles = angles, Out = dir, Name = name, Resume = resume, BeadDiameter = Markerless ? null : BeadDiameter };

    /// <summary>The `tomalign run` command line that does the same job (recorded in the job's report).</summary>
    public IEnumerable<string> RunArguments(string stack, string angles, string dir, string name, bool resume) =>
        ToSpec(stack, angles, dir, name, resume).ToArguments();
}
