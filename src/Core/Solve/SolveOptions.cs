namespace Tomalign.Core.Solve;

/// <summary>
/// How one per-view variable (rotation, tilt, magnification) is solved — tiltalign's
/// RotOption/TiltOption/MagOption in words:
/// <list type="bullet">
/// <item><see cref="Fixed"/>: held at its start value (tiltalign option 0).</item>
/// <item><see cref="PerView"/>: one variable per view (option 1; for tilt and magnification the
/// reference view stays fixed, as tiltalign's "all except the minimum tilt").</item>
/// <item><see cref="Grouped"/>: one variable per block of <see cref="VariableOption.GroupSize"/>
/// consecutive views (tiltalign's automapped groups; views of a block share the same change from
/// their start value; the block holding the reference view is fixed for tilt and magnification).</item>
/// <item><see cref="Linear"/>: variables at anchor views every GroupSize views (aligned on the
/// reference view), views between two anchors interpolated linearly (tiltalign's linear mapping).</item>
/// <item><see cref="Auto"/>: chosen by the solver from the landmark count: per view when there are at
/// least <see cref="SolveOptions.PerViewLandmarksPerView"/> landmarks per view on average (markerless
/// patches, a well-beaded series), otherwise the usual groups (tilt by 5, magnification by 4).</item>
/// <item><see cref="Global"/>: one variable for all views (tiltalign's "one rotation", option −1).
/// For tilt and magnification a global change is a gauge freedom (a rotation of the specimen, a
/// scale of the landmark set), so it is held fixed and the result says so.</item>
/// </list>
/// </summary>
public enum VariableMode { Fixed, PerView, Grouped, Linear, Global, Auto }

/// <param name="CosinePower">Grouped only: 0 for blocks of GroupSize views; p &gt; 0 for tiltalign's dynamic automapping, blocks of
/// GroupSize views on average whose size follows cos(tilt)^p (smaller at high tilt; tiltalign uses p = 1.5 for X-stretch).</param>
public sealed record VariableOption(VariableMode Mode, int GroupSize = 1, double CosinePower = 0)
{
    public static VariableOption Fixed { get; } = new(VariableMode.Fixed);
    public static VariableOption PerView { get; } = new(VariableMode.PerView);
    public static VariableOption Global { get; } = new(VariableMode.Global);
    public static VariableOption Auto { get; } = new(VariableMode.Auto);
    public static VariableOption Grouped(int size) => new(VariableMode.Grouped, size);
    public static VariableOption Linear(int spacing) => new(VariableMode.Linear, spacing);
    /// <summary>Blocks of <paramref name="size"/> views on average, sized by cos(tilt)^<paramref name="power"/> (tiltalign's dynamic automapping).</summary>
    public static VariableOption GroupedByTilt(int size, double power) => new(VariableMode.Grouped, size, power);

    /// <summary>
    /// Parses a command-line value: <c>fixed</c>, <c>per-view</c>, <c>global</c>, <c>grouped:N</c> (blocks of N views),
    /// <c>linear:N</c> (anchors every N views) or <c>auto</c>. <paramref name="option"/> names the option in the error message.
    /// </summary>
    public static VariableOption Parse(string text, string option)
    {
        string t = text.Trim().ToLowerInvariant();
        // grouped:N:P — blocks of N views on average sized by cos(tilt)^P (tiltalign's dynamic automapping; --distortion uses grouped:7:1.5).
        string[] three = t.Split(':');
        if (three.Length == 3 && three[0] is "grouped" or "group"
            && int.TryParse(three[1], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n3) && n3 >= 1
            && double.TryParse(three[2], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double power) && power >= 0 && power <= 10)
            return power == 0 ? Grouped(n3) : GroupedByTilt(n3, power);
        string[] parts = t.Split(':', 2);
        int size = 0;
        bool sized = parts.Length == 2 && int.TryParse(parts[1], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out size) && size >= 1;
        return (parts[0], parts.Length) switch
        {
            ("fixed", 1) => Fixed,
            ("per-view" or "perview" or "each", 1) => PerView,
            ("global" or "one", 1) => Global,
            ("auto" or "automatic", 1) => Auto,
            ("grouped" or "group", 2) when sized => Grouped(size),
            ("linear", 2) when sized => Linear(size),
            _ => throw new TomalignInputException(null, $"{option} '{text}' is not a variable mode",
                $"use {option} fixed, per-view, global, grouped:N, grouped:N:P (sized by cos(tilt)^P), linear:N (N ≥ 1 views) or auto"),
        };
    }

    public override string ToString() => Mode switch
    {
        VariableMode.Grouped when CosinePower > 0 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"grouped by cos^{CosinePower:G3} of tilt, on average {GroupSize}"),
        VariableMode.Grouped => $"grouped by {GroupSize}",
        VariableMode.Linear => $"linear between anchors every {GroupSize}",
        VariableMode.PerView => "per view",
        VariableMode.Global => "one global value",
        VariableMode.Auto => "automatic",
        _ => "fixed",
    };
}

/// <summary>How the solved tilt angles are tied to the nominal ones (<see cref="SolveOptions.TiltPrior"/>).</summary>
public enum TiltPriorMode
{
    /// <summary>No prior: the tilt variables are as free as <see cref="SolveOptions.Tilt"/> makes them.</summary>
    Off,
    /// <summary>A Gaussian prior of the given SD (degrees) on every view's tilt about its nominal angle.</summary>
    Given,
    /// <summary>Chosen from the data (<see cref="TiltChoice"/>): free tilts where the landmarks determine them, else a prior or fixed.</summary>
    Auto,
}

/// <summary>How the solve treats the tilt axis, the mean of the views' in-plane rotations (<see cref="SolveOptions.AxisHold"/>).</summary>
public enum AxisHoldMode
{
    /// <summary>Solved with everything else.</summary>
    Free,
    /// <summary>Held at the given axis; each view's rotation about it is free.</summary>
    Held,
    /// <summary>Held unless the given axis leaves clearly more residual than the solved one (<see cref="AxisChoice"/>).</summary>
    Auto,
}

/// <summary>The tilt prior option: off, a given SD in degrees, or automatic.</summary>
public sealed record TiltPriorOption(TiltPriorMode Mode, double SdDegrees = 0)
{
    public static TiltPriorOption Off { get; } = new(TiltPriorMode.Off);
    public static TiltPriorOption Auto { get; } = new(TiltPriorMode.Auto);
    public static TiltPriorOption Sd(double degrees) => degrees > 0 && double.IsFinite(degrees)
        ? new(TiltPriorMode.Given, degrees)
        : throw new TomalignInputException(null, $"a tilt prior SD of {degrees}° is not a positive angle", "give --tilt-prior auto, off or an SD in degrees such as 0.5");

    /// <summary>Parses <c>auto</c>, <c>off</c> or an SD in degrees; <paramref name="option"/> names the option in the error message.</summary>
    public static TiltPriorOption Parse(string text, string option)
    {
        string t = text.Trim().ToLowerInvariant();
        if (t is "auto" or "automatic") return Auto;
        if (t is "off" or "none" or "no") return Off;
        if (double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double sd) && sd > 0 && double.IsFinite(sd))
            return new(TiltPriorMode.Given, sd);
        throw new TomalignInputException(null, $"{option} '{text}' is neither auto, off nor a positive SD in degrees", $"use {option} auto, {option} off or {option} 0.5");
    }

    public override string ToString() => Mode switch
    {
        TiltPriorMode.Given => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"SD {SdDegrees:G4}° about the nominal tilts"),
        TiltPriorMode.Auto => "automatic",
        _ => "off",
    };
}

/// <summary>Options of a bundle-adjustment solve (the defaults suit gold-bead tilt series).</summary>
public sealed record SolveOptions
{
    public VariableOption Rotation { get; init; } = VariableOption.PerView;
    public VariableOption Tilt { get; init; } = VariableOption.Grouped(5);
    public VariableOption Magnification { get; init; } = VariableOption.Grouped(4);

    /// <summary>
    /// X-stretch variables (tiltalign's XStretchOption): the specimen's x axis stretched by 1 + s before tilting (see
    /// <see cref="Geometry.ViewGeometry"/>). The reference view stays at 0 (a common stretch is absorbed by the landmarks).
    /// Fixed by default; <see cref="VariableMode.Auto"/>: see <see cref="DistortionChoice"/>.
    /// </summary>
    public VariableOption XStretch { get; init; } = VariableOption.Fixed;

    /// <summary>Skew variables (tiltalign's SkewOption): the angle between the specimen's x and y axes changed by δ; as <see cref="XStretch"/>.</summary>
    public VariableOption Skew { get; init; } = VariableOption.Fixed;

    /// <summary>
    /// tiltalign's usual distortion mapping (etomo's defaults: XStretchOption 3 with grouping 7, SkewOption 3 with grouping 11):
    /// X-stretch in blocks of 7 views on average, smaller at high tilt (tiltalign's dynamic automapping, cos(tilt)^1.5).
    /// </summary>
    public static VariableOption PresetXStretch => VariableOption.GroupedByTilt(7, 1.5);
    /// <summary>Skew changing linearly between anchors every 11 views (tiltalign's SkewOption 3, its usual).</summary>
    public static VariableOption PresetSkew => VariableOption.Linear(11);

    /// <summary>True when stretch or skew variables are solved (or chosen automatically).</summary>
    public bool SolvesDistortion => XStretch.Mode != VariableMode.Fixed || Skew.Mode != VariableMode.Fixed;

    /// <summary>
    /// Tie of the solved tilts to the nominal ones: off (the default), a Gaussian prior of a given SD, or automatic (a solve
    /// with free tilts is kept only where the landmarks clearly determine them; see <see cref="TiltChoice"/>).
    /// Has no effect when <see cref="Tilt"/> is fixed.
    /// </summary>
    public TiltPriorOption TiltPrior { get; init; } = TiltPriorOption.Off;

    /// <summary>
    /// How the tilt axis (the views' mean in-plane rotation) is tied to the given one (<see cref="SolveInput.AxisAngleDegrees"/>):
    /// free (the default), held there (per-view rotations about it stay free), or automatic (<see cref="AxisChoice"/>: held
    /// unless the data clearly ask for another axis). Has no effect when rotations are fixed.
    /// </summary>
    public AxisHoldMode AxisHold { get; init; } = AxisHoldMode.Free;
    /// <summary>Reference view (0-based) whose tilt and magnification fix the gauge; null: the view of smallest |tilt|.</summary>
    public int? ReferenceView { get; init; }

    /// <summary>A fixed x-axis tilt (degrees) applied before the tilt about Y. With free landmarks a
    /// global x-axis tilt is a gauge freedom (a rotation of the specimen about X), so it is not solved.</summary>
    public double XAxisTiltDegrees { get; init; }

    /// <summary>Landmarks seen in fewer views are dropped, with a note.</summary>
    public int MinViewsPerLandmark { get; init; } = 3;

    /// <summary>First solve a reduced problem (magnifications 1, nominal tilts), then the full one.</summary>
    public bool TwoStage { get; init; } = true;

    public int MaxIterations { get; init; } = 200;

    /// <summary>Converged when an accepted step lowers the cost by less than this fraction.</summary>
    public double RelativeTolerance { get; init; } = 1e-10;

    /// <summary>Tukey-biweight re-weighting (K = <see cref="TukeyK"/>, scale from the MAD).</summary>
    public bool Robust { get; init; }
    /// <summary>With <see cref="Robust"/>: weight whole tracks by their RMS residual instead of single points
    /// (tiltalign -WeightWholeTracks; for patch-tracking landmarks, where a bad track is bad throughout).</summary>
    public bool WeightWholeTracks { get; init; }
    public double TukeyK { get; init; } = 4.685;
    public int MaxRobustRounds { get; init; } = 15;

    /// <summary>Points and landmarks whose residual lies more than this many (robust) SDs above the median are flagged.</summary>
    public double OutlierSds { get; init; } = 3.0;

    /// <summary>Drop at most this many flagged landmarks (worst first) and re-solve; 0 = never.</summary>
    public int DropWorstLandmarks { get; init; }

    /// <summary>After the solve, add to every tilt angle the offset that makes the landmarks' plane flat about Y
    /// (<see cref="SpecimenLevel"/>; tiltalign's angle offset for a level specimen). The aligned images do not change.</summary>
    public bool Level { get; init; }

    /// <summary>
    /// Landmarks per view (on average, over the views that have any) from which <see cref="VariableOption.Auto"/>
    /// solves tilt and magnification per view. Measured on a simulated 1024²×61 markerless series (0.5 % magnification
    /// and 0.2° tilt jitter per view, about 80 patch landmarks per view): grouped tilt and magnification left an
    /// alignment error of 2.7 px over the field, per view 0.42 px; with the true projections as landmarks 2.0 and 0.00 px.
    /// </summary>
    public const double PerViewLandmarksPerView = 10;

    /// <summary>These options with every <see cref="VariableOption.Auto"/> replaced by what the landmarks of <paramref name="input"/> support.</summary>
    public SolveOptions ResolveAutomatic(SolveInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Rotation.Mode != VariableMode.Auto && Tilt.Mode != VariableMode.Auto && Magnification.Mode != VariableMode.Auto) return this;
        double perView = LandmarksPerView(input);
        bool rich = perView >= PerViewLandmarksPerView;
        return this with
        {
            Rotation = Rotation.Mode == VariableMode.Auto ? VariableOption.PerView : Rotation,
            Tilt = Tilt.Mode == VariableMode.Auto ? (rich ? VariableOption.PerView : VariableOption.Grouped(5)) : Tilt,
            Magnification = Magnification.Mode == VariableMode.Auto ? (rich ? VariableOption.PerView : VariableOption.Grouped(4)) : Magnification,
        };
    }

    /// <summary>Observations per view, averaged over the views that have any.</summary>
    public static double LandmarksPerView(SolveInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        int views = input.Observations.Select(o => o.View).Distinct().Count();
        return views == 0 ? 0 : input.Observations.Count / (double)views;
    }
}
