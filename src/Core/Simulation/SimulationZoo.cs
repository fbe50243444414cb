namespace Tomalign.Core.Simulation;

/// <summary>
/// Named styles of simulated series: the kinds of data a user brings that the built-in defaults do not look like
/// (DESIGN.md, "the test zoo"). Every style starts from <see cref="SimulationOptions.ForSize"/> and changes what makes
/// it hard; sizes and lengths scale with the image like the defaults (a 10 px bead at 512 px). The tests run every
/// stage across these styles, and `simulate --style NAME` writes one.
/// </summary>
public static class SimulationZoo
{
    /// <summary>A style: its name, what it imitates, and how it changes the size-scaled defaults.</summary>
    public sealed record Style(string Name, string Description, Func<SimulationOptions, SimulationOptions> Apply);

    /// <summary>
    /// The independent-data baseline of the accuracy issue: a 250 px slab (at 512 px) of weak texture, 10 px gold on
    /// both surfaces, a 5 px random-walk drift per view, 0.2° rotation jitter, 16 e/px per view.
    /// </summary>
    private static SimulationOptions WeakTexture(SimulationOptions o) => o with
    {
        ThicknessPixels = Math.Max(o.ThicknessPixels, Math.Round(250 * Math.Min(1.0, o.Nx / 512.0))),
        BlobDensity = 0.0015,
        ShiftWalkSigmaPixels = 5 * Math.Min(1.0, o.Nx / 512.0),
        RotationJitterDegrees = 0.2,
        DoseElectronsPerPixel = 16,
        TwoSurfaces = true,
    };

    public static IReadOnlyList<Style> Styles { get; } =
    [
        new("default", "the built-in simulator's defaults (textured 120 px slab, 20 beads of 10 px, 20 e/px)", o => o),
        new("weak-texture", "weak texture in a 250 px slab, strong 10 px gold on both surfaces, 5 px/view drift, 16 e/px", WeakTexture),
        new("low-dose", "weak-texture at 5 e/px per view", o => WeakTexture(o) with { DoseElectronsPerPixel = 5 }),
        new("large-drift", "weak-texture with a 15 px/view random-walk drift", o => WeakTexture(o) with { ShiftWalkSigmaPixels = 15 * Math.Min(1.0, o.Nx / 512.0) }),
        new("thick", "a 300 px slab (at 512 px) of the default texture", o => o with { ThicknessPixels = Math.Round(300 * Math.Min(1.0, o.Nx / 512.0)) }),
        new("carbon-edge", "a carbon film edge (hole edge) crossing the field, stronger than the texture", o => o with { CarbonDensity = 0.004 }),
        new("small-beads", "5 px gold", o => o with { BeadRadiusPixels = Math.Max(2.5, o.BeadRadiusPixels / 2), BeadCount = o.BeadCount + o.BeadCount / 2 }),
        new("big-beads", "20 px gold", o => o with { BeadRadiusPixels = o.BeadRadiusPixels * 2, BeadCount = Math.Max(3, o.BeadCount / 2),
            ThicknessPixels = Math.Max(o.ThicknessPixels, 5 * o.BeadRadiusPixels) }),
        new("light-beads", "inverted contrast: gold bright on a dark background", o => o with { InvertContrast = true }),
        new("jitter", "0.5 % magnification and 0.4° rotation jitter per view, 0.5° tilt error", o => o with
            { MagnificationJitter = 0.005, RotationJitterDegrees = 0.4, TiltErrorDegrees = 0.5 }),
        new("bad-views", "one dark view and one pure-noise view inside the series", o => o with
            { BadViews = [new BadView(o.ViewCount / 3, BadViewKind.Noise), new BadView(2 * o.ViewCount / 3 + 1, BadViewKind.Dark)] }),
        new("acquisition-order", "views written in dose-symmetric acquisition order (0, 3, 6, −3, −6, …)", o => o with { Order = ViewOrder.DoseSymmetric }),
        new("markerless", "no gold: the default texture only", o => o with { BeadCount = 0 }),
        new("markerless-weak", "no gold, weak texture in a 250 px slab, 5 px/view drift, 16 e/px", o => WeakTexture(o) with { BeadCount = 0, BlobDensity = 0.003 }),
    ];

    /// <summary>The style called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such style; the message lists them.</exception>
    public static Style Get(string name) =>
        Styles.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"there is no simulation style '{name}'; the styles are {string.Join(", ", Styles.Select(s => s.Name))}", nameof(name));

    /// <summary>The options of style <paramref name="name"/> at <paramref name="size"/>² pixels with <paramref name="seed"/>.</summary>
    public static SimulationOptions Options(string name, int size, int seed) =>
        Get(name).Apply(SimulationOptions.ForSize(size) with { Seed = seed });
}
