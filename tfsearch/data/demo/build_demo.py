"""Build the tfsearch demo retrieval dataset (BEIR layout) from the texts below.

The dataset is small, hand-written English prose authored for the tfsearch
project: 12 topics x 4 subtopics x 6 documents = 288 documents, plus one query
per subtopic (48 queries) and graded relevance judgements.

Files written next to this script:

    corpus.jsonl      {"_id", "title", "text", "metadata": {"topic", "subtopic"}}
    queries.jsonl     {"_id", "text", "metadata": {"topic", "subtopic"}}
    qrels/test.tsv    query-id <TAB> corpus-id <TAB> score
                      (2 = same subtopic, 1 = same topic, other subtopic)

Output is deterministic: topics and subtopics are emitted in sorted order,
documents keep the order in which they are listed here, JSON is written with
``ensure_ascii=False`` and LF line endings, and every file is replaced
atomically.

Rebuild with either of (standard library only):

    python3 tfsearch/data/demo/build_demo.py
    python -m tfsearch.data.demo.build_demo
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# topic -> subtopic -> list of (title, text)
DOCS = {
    "astronomy": {
        "black holes": [
            ("Event horizon and Schwarzschild radius",
             "The event horizon is the boundary around a black hole beyond which nothing, not even light, can escape. For a non-rotating mass its radius is called the Schwarzschild radius, and it grows in direct proportion to the mass."),
            ("Collapse of massive stellar cores",
             "When a very massive star exhausts its nuclear fuel, its core can no longer resist its own gravity and collapses. If the remnant exceeds the limit that neutron pressure can support, it becomes a stellar-mass black hole, often after a supernova explosion."),
            ("Giants at the hearts of galaxies",
             "Most large galaxies host a supermassive black hole at their core, weighing millions to billions of solar masses. The one at the centre of the Milky Way, Sagittarius A*, was inferred from the rapid orbits of nearby stars."),
            ("Hawking's prediction of thermal emission",
             "In 1974 Stephen Hawking argued that quantum effects near the horizon should cause black holes to emit faint thermal radiation. Over enormous timescales this emission would make them slowly lose mass and eventually evaporate."),
            ("First picture of a shadow",
             "In 2019 the Event Horizon Telescope collaboration released an image of a dark shadow encircled by a glowing ring of gas in the galaxy M87. The picture combined data from radio dishes spread across several continents."),
            ("Ripples from merging compact pairs",
             "When two compact objects spiral together and merge, they send ripples through spacetime. The LIGO detectors first recorded such a signal in September 2015, produced by two black holes colliding more than a billion light-years away."),
        ],
        "exoplanets": [
            ("Dips in starlight reveal planets",
             "A planet passing in front of its host star blocks a tiny fraction of the starlight, producing a periodic dip in brightness. Space telescopes such as Kepler and TESS have discovered thousands of worlds by monitoring these small dimmings."),
            ("Stellar wobble and Doppler shifts",
             "An orbiting planet tugs its star back and forth, shifting the star's spectral lines alternately toward blue and red. Measuring this Doppler shift reveals the planet's orbital period and a minimum value for its mass."),
            ("A giant around 51 Pegasi",
             "In 1995 Michel Mayor and Didier Queloz announced a giant planet orbiting the Sun-like star 51 Pegasi. It circles its star in just over four days, and the finding later earned them a share of the Nobel Prize in Physics."),
            ("Where liquid water could exist",
             "The habitable zone is the range of orbital distances at which a planet could keep liquid water on its surface. Its location depends on the star's luminosity, so it lies much closer to dim red dwarfs than to hot, bright stars."),
            ("Scorching gas giants on tight orbits",
             "Hot Jupiters are gas giants that orbit extremely close to their stars, with years lasting only a few days. Their atmospheres can exceed a thousand degrees, and many are thought to have migrated inward after forming farther out."),
            ("Reading the air of distant worlds",
             "During a transit, some starlight filters through a planet's atmosphere, and molecules absorb specific wavelengths. Instruments on the James Webb Space Telescope use this transmission spectroscopy to detect water vapour, carbon dioxide and other gases."),
        ],
        "the Moon": [
            ("Origin in a giant impact",
             "The leading explanation for the Moon's origin proposes that a Mars-sized body struck the young Earth about 4.5 billion years ago. Debris thrown into orbit by the collision then gathered to form our natural satellite."),
            ("Tidal locking and the far side",
             "Because its rotation period matches its orbital period, the Moon always turns the same face toward Earth. The hidden hemisphere, often wrongly called the dark side, receives just as much sunlight as the near side."),
            ("Why the lunar disc changes shape",
             "As the Moon travels around Earth over roughly 29.5 days, the sunlit portion we see changes from new to crescent, quarter, gibbous and full. These phases result from viewing geometry, not from Earth's shadow."),
            ("Crewed Apollo landings",
             "Between 1969 and 1972, six crewed Apollo missions landed on the lunar surface, and twelve astronauts walked there. They brought back about 382 kilograms of rock and soil samples that scientists still study today."),
            ("Dark plains and bright highlands",
             "The dark patches visible to the naked eye are maria, vast plains of solidified basaltic lava. The brighter, heavily cratered highlands are older and made largely of a light-coloured rock called anorthosite."),
            ("How our satellite raises tides",
             "The Moon's gravity pulls more strongly on the near side of Earth than on the far side, raising two bulges in the oceans. As the planet rotates, most coastlines experience two high tides and two low tides each day."),
        ],
        "comets": [
            ("The dirty snowball nucleus",
             "A comet's nucleus is a small, irregular body of ice, dust and rocky material, usually a few kilometres across. Fred Whipple's 1950 model described it as a dirty snowball of frozen volatiles mixed with grains of debris."),
            ("Coma and the two tails",
             "As a comet nears the Sun, heating releases gas and dust that form a fuzzy envelope called the coma. Sunlight and the solar wind push material into a curved dust tail and a straight, bluish ion tail pointing away from the Sun."),
            ("Halley's predicted return",
             "Edmond Halley realised that comets seen in 1531, 1607 and 1682 were one object and predicted its return. It reappears roughly every 76 years, with its most recent passage in 1986 and the next expected in 2061."),
            ("Reservoirs beyond the planets",
             "Long-period comets are thought to originate in the Oort cloud, a distant spherical reservoir of icy bodies surrounding the Solar System. Short-period ones mostly come from the Kuiper belt and the scattered disc beyond Neptune."),
            ("Rosetta and the Philae lander",
             "The European Space Agency's Rosetta spacecraft orbited comet 67P/Churyumov–Gerasimenko from 2014 to 2016. Its lander, Philae, made the first touchdown on such a body, though it bounced and came to rest in a shadowed spot."),
            ("Shooting stars from cometary dust",
             "When Earth passes through the trail of dust left behind by a comet, particles burn up in the upper atmosphere as meteors. The Perseids each August, for example, come from debris shed by comet Swift–Tuttle."),
        ],
    },
    "cooking": {
        "bread baking": [
            ("Kneading builds the gluten network",
             "Kneading wheat dough aligns proteins called glutenin and gliadin into an elastic network known as gluten. This network traps gas bubbles, allowing the loaf to rise and giving bread its chewy structure."),
            ("Keeping a sourdough starter alive",
             "A sourdough starter is a culture of wild yeasts and lactic acid bacteria maintained in a mixture of flour and water. Regular feeding keeps it active, and the bacteria give the finished loaf its tangy flavour."),
            ("The final rise before baking",
             "Proofing is the last rest before baking, during which yeast produces carbon dioxide and the shaped dough expands. Under-proofed loaves can burst unevenly in the oven, while over-proofed ones may collapse."),
            ("Oven spring and crust formation",
             "In the first minutes of baking, trapped gases expand rapidly and the loaf puffs up, an effect called oven spring. Steam in the oven keeps the surface soft long enough for this expansion before a crisp, browned crust sets."),
            ("Recipes written as baker's percentages",
             "Professional bakers express each ingredient as a percentage of the total flour weight. A dough with 70 percent hydration, for instance, contains 700 grams of water for every kilogram of flour."),
            ("Slashing dough with a lame",
             "Just before baking, bakers slash the top of the dough with a razor blade called a lame. These cuts control where the loaf opens as it expands and create decorative features such as the ear on a baguette."),
        ],
        "sauces": [
            ("Escoffier's five mother sauces",
             "Classical French cuisine, as codified by Auguste Escoffier, recognises five mother sauces: béchamel, velouté, espagnole, hollandaise and tomato. Countless derivative sauces are made by adding flavourings to one of these bases."),
            ("Cooking a roux to thicken",
             "A roux is cooked from equal weights of fat and flour and used to thicken liquids. The longer it cooks, the darker and nuttier it becomes, but its thickening power decreases as the starch browns."),
            ("Hollandaise and the risk of splitting",
             "Hollandaise is an emulsion of melted butter suspended in warm egg yolks with lemon juice. If the mixture gets too hot or the butter is added too quickly, the droplets separate and the sauce breaks."),
            ("Concentrating flavour by simmering down",
             "Reducing a liquid means simmering it uncovered so that water evaporates and flavours concentrate. Stocks, wine and pan juices are often reduced to create glossy sauces with a more intense taste and thicker body."),
            ("Deglazing the pan after searing",
             "After searing meat, cooks pour wine or stock into the hot pan to loosen the browned residue, called fond. The liquid is scraped, reduced and often finished with cold butter to make a quick accompaniment."),
            ("Mayonnaise as a cold emulsion",
             "Mayonnaise is a cold emulsion of oil, egg yolk and an acid such as vinegar or lemon juice. Lecithin in the yolk acts as an emulsifier, coating tiny oil droplets so they stay dispersed rather than merging."),
        ],
        "fermentation": [
            ("Sauerkraut from salted cabbage",
             "Sauerkraut is made by salting shredded cabbage and letting naturally present lactic acid bacteria ferment its sugars. The acid they produce lowers the pH, preserving the vegetable and giving it a sour taste."),
            ("Kimchi in Korean households",
             "Kimchi is a Korean staple of salted and fermented vegetables, most often napa cabbage and radish, seasoned with chilli, garlic, ginger and fish sauce. Families traditionally prepared large batches in autumn, a custom called kimjang."),
            ("Bacteria that turn milk into yoghurt",
             "Yoghurt forms when bacteria such as Lactobacillus bulgaricus and Streptococcus thermophilus convert milk sugar into lactic acid. The acidity causes milk proteins to coagulate, thickening the liquid into a tangy gel."),
            ("Miso and the koji mould",
             "Miso is a Japanese paste made by fermenting soybeans with salt and koji, the mould Aspergillus oryzae grown on rice or barley. Ageing can last from weeks to years, deepening its colour and savoury taste."),
            ("Brewing kombucha with a SCOBY",
             "Kombucha is sweetened tea fermented by a symbiotic culture of bacteria and yeast, often abbreviated SCOBY, which forms a rubbery disc on the surface. The result is a slightly fizzy, acidic drink."),
            ("Keeping home ferments safe",
             "Salt concentration and acidity are the main safeguards in home fermentation, as they discourage spoilage organisms. Keeping vegetables submerged beneath the brine limits exposure to air, which can allow mould to grow."),
        ],
        "spices": [
            ("Saffron threads picked by hand",
             "Saffron consists of the dried red stigmas of the crocus flower Crocus sativus, picked by hand. Because each flower yields only three threads, thousands of blossoms are needed per ounce, making it among the costliest seasonings."),
            ("Black pepper and its pungency",
             "Black pepper comes from the unripe berries of a climbing vine native to southern India, which are dried until their skins darken and wrinkle. Its sharp bite is due mainly to the compound piperine."),
            ("Dry-toasting whole seeds",
             "Heating whole seeds such as cumin or coriander in a dry pan releases volatile oils and deepens their aroma. Cooks usually toast them just until fragrant, then grind them, since scorched seeds turn bitter."),
            ("Ceylon cinnamon versus cassia",
             "Two main products are sold as cinnamon: Ceylon cinnamon, with thin, papery layers of bark, and cassia, which is thicker, harder and more pungent. Cassia also contains notably more coumarin."),
            ("Regional blends of garam masala",
             "Garam masala is a warming mixture used across South Asian cooking, with recipes varying by region and household. Common components include cardamom, cloves, cinnamon, cumin and black pepper, often added near the end of cooking."),
            ("Capsaicin and the Scoville scale",
             "The burning sensation of chillies comes from capsaicin, which activates pain receptors that normally respond to heat. The Scoville scale rates pungency, from zero for sweet bell peppers to over a million units for the hottest varieties."),
        ],
    },
    "football": {
        "rules and refereeing": [
            ("When an attacker is offside",
             "A player is in an offside position if any part of the head, body or feet is in the opponents' half and nearer the goal line than both the ball and the second-last defender. Being there is not an offence unless the player becomes involved in active play."),
            ("Cautions, dismissals and coloured cards",
             "Referees show a yellow card to caution a player and a red card to send one off. Two cautions in the same match lead to dismissal, and the team must continue with one fewer player."),
            ("Video review of match decisions",
             "The video assistant referee, known as VAR, reviews footage to help officials with clear errors involving goals, penalties, direct red cards and mistaken identity. It was used at the men's World Cup for the first time in 2018."),
            ("Taking a kick from the spot",
             "A penalty is awarded for certain fouls committed by defenders inside their own penalty area. The ball is placed on a mark eleven metres from goal, and the goalkeeper must keep part of one foot on the line until it is kicked."),
            ("The board that writes the laws",
             "The laws of association football are maintained by the International Football Association Board, founded in 1886. It includes representatives of the four British associations and FIFA, and amendments require a three-quarters majority."),
            ("Deliberate touches with hand or arm",
             "A handball offence generally occurs when a player deliberately touches the ball with the hand or arm, or makes the body unnaturally bigger with the arm. Only the goalkeeper may handle the ball, and only within their own penalty area."),
        ],
        "goalkeeping": [
            ("The 1992 back-pass change",
             "Since 1992, goalkeepers may not pick up the ball when a teammate deliberately kicks it back to them. The change was introduced to discourage time-wasting after a notably defensive World Cup in 1990."),
            ("Rise of the sweeper-keeper",
             "A sweeper-keeper plays well off the goal line, rushing out to intercept through balls and joining the build-up with passes. Manuel Neuer is widely credited with popularising this proactive role in the modern game."),
            ("Gloves, grip and kit colours",
             "Keepers wear padded gloves with latex palms that improve grip on a wet or spinning ball. They must also wear shirt colours that distinguish them from outfield players and match officials."),
            ("Guessing direction against spot kicks",
             "Facing a penalty, a goalkeeper often studies the taker's run-up and hip position to guess which way to move. Research suggests many keepers dive even though staying in the centre would occasionally be more successful."),
            ("Lev Yashin, the Black Spider",
             "Soviet goalkeeper Lev Yashin, nicknamed the Black Spider for his dark kit and long reach, remains the only player in his position to have won the Ballon d'Or, in 1963. FIFA's award for the best World Cup goalkeeper once carried his name."),
            ("Organising the defence at set pieces",
             "Good goalkeepers organise their defenders with constant communication, especially at corners and free kicks. Claiming high crosses decisively relieves pressure, while hesitation can leave attackers free to score."),
        ],
        "World Cup history": [
            ("The 1930 tournament in Uruguay",
             "The first FIFA World Cup was held in Uruguay in 1930 with thirteen teams, most invited rather than qualified. The hosts beat Argentina 4–2 in the final in Montevideo."),
            ("Brazil's five world titles",
             "Brazil has won the men's World Cup five times, more than any other nation, with victories in 1958, 1962, 1970, 1994 and 2002. It is also the only country to have appeared at every edition."),
            ("Shock defeat at the Maracanã",
             "In 1950 Uruguay defeated Brazil 2–1 in the decisive match at Rio de Janeiro's Maracanã stadium before a crowd of about 200,000. The stunning result is remembered in Brazil as the Maracanazo."),
            ("From the Jules Rimet trophy onward",
             "The original trophy, named after FIFA president Jules Rimet, was given permanently to Brazil after its third title in 1970 and was stolen in 1983. A new gold trophy designed by Silvio Gazzaniga has been awarded since 1974."),
            ("Growth from sixteen to forty-eight teams",
             "The tournament grew from 16 finalists to 24 in 1982 and to 32 in 1998. The 2026 edition, co-hosted by Canada, Mexico and the United States, is the first to feature 48 national teams."),
            ("A separate tournament for women",
             "FIFA launched a separate Women's World Cup in 1991 in China. The United States has won it four times, and the 2023 edition, staged in Australia and New Zealand, was won by Spain."),
        ],
        "tactics and formations": [
            ("Two banks of four",
             "The 4-4-2 places four defenders, four midfielders and two strikers in two compact lines. It was a staple of English football for decades because it is simple to coach and covers the width of the pitch."),
            ("Dutch total football",
             "Total football, associated with Ajax and the Netherlands in the early 1970s, relied on players fluidly swapping positions. Any outfield player could take over a teammate's role, with Johan Cruyff as its most famous exponent."),
            ("Pressing high and counter-pressing",
             "Pressing teams try to win the ball back high up the pitch by closing down opponents quickly. Counter-pressing, or Gegenpressing, means attacking the ball immediately after losing possession, before the rival side can organise."),
            ("Catenaccio and the libero",
             "Catenaccio, Italian for door bolt, was a defensive system perfected by Helenio Herrera's Inter Milan in the 1960s. A free defender, the libero, swept up behind the markers while the team struck on the counter-attack."),
            ("Short passing and tiki-taka",
             "Tiki-taka describes a style built on short passes, constant movement and keeping the ball for long spells. Barcelona under Pep Guardiola and the Spanish national team used it to dominate matches between 2008 and 2012."),
            ("Wing-backs beside a back three",
             "Systems with three central defenders often use wing-backs, who patrol an entire flank. They must supply attacking width and crosses while retreating to form a back five when the team is defending."),
        ],
    },
    "classical music": {
        "Baroque era": [
            ("Character of the Baroque period",
             "The Baroque period in Western music runs roughly from 1600 to 1750. It is marked by ornate melodic lines, contrasts between loud and soft or soloist and ensemble, and the rise of tonal harmony."),
            ("Basso continuo and figured bass",
             "Much Baroque music rests on a basso continuo, a bass line played by instruments such as cello and harpsichord. The keyboard player improvised chords from numbers written beneath the bass, a practice called figured bass."),
            ("Bach and the art of fugue",
             "Johann Sebastian Bach was a master of the fugue, a form in which a short theme enters in one voice and is imitated by others. His Well-Tempered Clavier presents preludes and fugues in all twenty-four major and minor keys."),
            ("Vivaldi's Four Seasons concertos",
             "Antonio Vivaldi, a Venetian priest and violinist, wrote hundreds of concertos. His set of four violin concertos known as The Four Seasons depicts birdsong, storms and icy winds, accompanied by descriptive sonnets."),
            ("Handel composes Messiah",
             "George Frideric Handel composed the oratorio Messiah in 1741 in about three weeks, and it premiered in Dublin the following year. Its Hallelujah chorus has become one of the most performed choral pieces in the world."),
            ("Soloists and ripieno in concerto grosso",
             "In a concerto grosso, a small group of soloists called the concertino alternates and combines with the full string band, the ripieno. Arcangelo Corelli's twelve concerti grossi set the model for the genre."),
        ],
        "opera": [
            ("Monteverdi's L'Orfeo of 1607",
             "Claudio Monteverdi's L'Orfeo, first staged in Mantua in 1607, is often regarded as the earliest opera still regularly performed. It retells the myth of Orpheus descending to the underworld to rescue Eurydice."),
            ("Recitative moves the plot",
             "Operas alternate between recitative, speech-like singing that moves the plot forward, and arias, lyrical solos in which a character reflects on emotions. Arias often showcase the singer's range and agility."),
            ("Verdi and Italian national feeling",
             "Giuseppe Verdi dominated Italian opera in the nineteenth century with works such as Rigoletto, La traviata and Aida. His choruses, notably Va, pensiero from Nabucco, became associated with Italian national feeling."),
            ("Wagner's leitmotifs and the Ring",
             "Richard Wagner called his mature works music dramas and built them on leitmotifs, short themes linked to characters or ideas. His cycle Der Ring des Nibelungen spans four evenings and about fifteen hours of music."),
            ("Classifying singers by voice type",
             "Opera singers are classified by range and timbre: soprano, mezzo-soprano and contralto for female voices, and tenor, baritone and bass for male ones. Further labels such as lyric or dramatic describe weight and colour."),
            ("La Scala and the horseshoe auditorium",
             "La Scala in Milan opened in 1778 and has hosted premieres by Verdi and Puccini. Its horseshoe-shaped auditorium, ringed with tiers of boxes, is typical of the Italian theatre design copied throughout Europe."),
        ],
        "symphony orchestra": [
            ("Four sections of the orchestra",
             "A modern symphony orchestra is divided into four sections: strings, woodwinds, brass and percussion. Large ensembles may include around a hundred players, with strings seated at the front and percussion at the back."),
            ("What the conductor actually does",
             "The conductor sets tempo, shapes phrasing and balances the sections, communicating mainly with a baton and gestures. Much of the real work happens in rehearsals, where interpretive decisions are made."),
            ("Tuning to the oboe's A",
             "Before a concert the oboist traditionally sounds an A, and the rest of the ensemble tunes to it. The oboe's penetrating, stable tone makes the pitch easy to hear across the stage."),
            ("Beethoven's choral Ninth Symphony",
             "Beethoven's Ninth Symphony, completed in 1824, was groundbreaking for adding vocal soloists and a chorus to its finale. The words come from Friedrich Schiller's poem Ode to Joy."),
            ("The classical four-movement plan",
             "The Classical symphony, shaped by Haydn and Mozart, usually has four movements: a fast opening in sonata form, a slow movement, a minuet or scherzo, and a lively finale. Haydn alone wrote over a hundred such works."),
            ("Duties of the concertmaster",
             "The principal first violinist, called the concertmaster or leader, acts as the link between conductor and players. This musician plays the violin solos within orchestral works and decides bowings for the string section."),
        ],
        "chamber music": [
            ("Two violins, viola and cello",
             "A string quartet brings together two violins, a viola and a cello. In the late eighteenth century this combination became the most prestigious medium of chamber music, prized for its balanced, conversational texture."),
            ("Haydn, father of the quartet",
             "Joseph Haydn composed around seventy string quartets and is often called the father of the genre. His Opus 33 set of 1781 was advertised as written in an entirely new and special way."),
            ("Beethoven's late quartets and Grosse Fuge",
             "Composed in his final years while he was profoundly deaf, Beethoven's late quartets puzzled early audiences with their unusual forms. The Grosse Fuge, originally the finale of Opus 130, is among the most demanding pieces in the repertoire."),
            ("Writing for the piano trio",
             "A piano trio combines piano, violin and cello. Schubert, Brahms and Mendelssohn all wrote celebrated works for this grouping, which balances the keyboard's harmonic richness against two singing string lines."),
            ("Schubert's Trout Quintet",
             "Franz Schubert's Trout Quintet uses an unusual line-up of piano, violin, viola, cello and double bass. Its fourth movement is a set of variations on his earlier song about a trout."),
            ("Music for salons and homes",
             "Chamber music was originally played in private salons and homes rather than large halls, often by skilled amateurs. Each part is taken by a single player, and performers usually play without a conductor."),
        ],
    },
    "computer programming": {
        "version control": [
            ("Git and distributed history",
             "Git, created by Linus Torvalds in 2005 for Linux kernel development, is a distributed version control system. Every clone contains the full project history, so developers can commit and browse logs without a network connection."),
            ("Working on separate branches",
             "A branch lets a developer work on a feature in isolation from the main line of code. When the work is finished, merging combines the histories, and conflicts must be resolved by hand where the same lines changed."),
            ("Writing useful commit messages",
             "Each commit records a snapshot of the project along with an author, timestamp and message. Clear messages with a short summary line make it easier for others to understand why a change was made."),
            ("Reviewing changes before they land",
             "Hosting platforms let contributors propose changes through pull or merge requests. Teammates comment on the diff, request revisions and approve the work before it is merged into the shared branch."),
            ("Rebasing to linearise history",
             "Rebasing replays a series of commits on top of another base commit, producing a linear history. Because it rewrites commit identifiers, rebasing branches that others have already pulled can cause confusion."),
            ("Centralised tools like Subversion",
             "Before distributed tools became popular, many teams used centralised systems such as CVS and Subversion. These keep the authoritative history on a single server, and developers check out working copies from it."),
        ],
        "memory management": [
            ("Stack frames and the heap",
             "Programs typically store local variables on the stack, which grows and shrinks automatically with function calls. Data whose lifetime is not tied to a single call is allocated on the heap and must be released later."),
            ("malloc and free in C",
             "In C, programmers request heap memory with malloc and return it with free. Forgetting to free memory causes leaks, while using a pointer after its memory has been released leads to unpredictable behaviour."),
            ("Tracing collectors find reachable objects",
             "A tracing garbage collector periodically finds every object reachable from roots such as globals and the stack, then reclaims the rest. Java, Go and C# rely on this approach to free developers from explicit deallocation."),
            ("Counting references to objects",
             "Reference counting keeps a tally of how many references point to each object and frees it when the count drops to zero. CPython uses this technique, supplemented by a cycle detector for objects that refer to each other."),
            ("Ownership and borrowing in Rust",
             "Rust enforces memory safety without a garbage collector through ownership rules checked at compile time. Each value has a single owner, and borrowed references cannot outlive the data they point to."),
            ("Leaks in long-running services",
             "A leak occurs when a program keeps memory it no longer needs, so usage grows over time. In servers that run for weeks, even small leaks can eventually exhaust available RAM and force restarts."),
        ],
        "unit testing": [
            ("Checking one function in isolation",
             "A unit test exercises a small, isolated piece of code, such as a single function, and compares its output with an expected result. Fast, focused tests help developers catch regressions soon after a change."),
            ("Red, green, refactor",
             "In test-driven development, a programmer first writes a failing test, then the minimal code to make it pass, and finally cleans up the design. The cycle is often summarised as red, green, refactor."),
            ("Replacing dependencies with mocks",
             "To isolate code from databases, networks or clocks, tests substitute simplified stand-ins called mocks or stubs. These return canned responses and can record how they were called."),
            ("What coverage numbers tell you",
             "Coverage tools measure which lines or branches were executed while the test suite ran. High coverage shows that code was exercised, though it does not prove that assertions actually checked the right behaviour."),
            ("The xUnit family of frameworks",
             "Many testing libraries follow the xUnit pattern that began with Kent Beck's SUnit for Smalltalk. JUnit for Java and Python's unittest module organise tests into classes with setup and teardown methods."),
            ("Running tests on every push",
             "Continuous integration servers automatically build the project and run its tests whenever code is pushed. Failing builds alert the team quickly, preventing broken changes from piling up on the main branch."),
        ],
        "compilers and interpreters": [
            ("Ahead-of-time translation to machine code",
             "A compiler translates source code written in a high-level language into machine code or another lower-level form before the program runs. Languages like C and Fortran are traditionally compiled ahead of time."),
            ("Executing statements one by one",
             "An interpreter executes a program directly, reading and carrying out statements one after another without producing a separate executable. This makes interactive experimentation easy, though execution is usually slower."),
            ("Tokens and abstract syntax trees",
             "The front end of a compiler first splits the text into tokens such as keywords, identifiers and operators. A parser then arranges these tokens into an abstract syntax tree that reflects the grammar of the language."),
            ("Compiling hot code at runtime",
             "Just-in-time compilers translate frequently executed code into native instructions while the program is running. Java virtual machines and modern JavaScript engines use this technique to combine portability with speed."),
            ("Bytecode for virtual machines",
             "Many languages compile source into bytecode, a compact instruction set for a virtual machine rather than real hardware. The Java Virtual Machine and CPython both execute bytecode of this kind."),
            ("Grace Hopper's early translators",
             "Grace Hopper developed the A-0 system in the early 1950s, one of the first tools to translate symbolic code into machine instructions. Her work influenced COBOL, a business language designed to read like English."),
        ],
    },
    "gardening": {
        "composting": [
            ("Balancing greens and browns",
             "A healthy compost heap mixes nitrogen-rich green materials, such as grass clippings and vegetable scraps, with carbon-rich browns like dry leaves and cardboard. A rough balance keeps decomposition steady and limits odours."),
            ("Hot heaps kill weed seeds",
             "When a large pile is built all at once and turned regularly, microbial activity can raise its core temperature above 55 °C. This heat speeds breakdown and kills many weed seeds and plant pathogens."),
            ("Worm bins for kitchen waste",
             "Vermicomposting uses red wiggler worms kept in bins to digest kitchen waste. Their castings form a fine, dark material rich in nutrients that can be mixed into potting mixes."),
            ("What to keep out of the heap",
             "Meat, dairy and oily food are usually kept out of home heaps because they attract rats and create smells. Diseased plants and the roots of perennial weeds are also best excluded."),
            ("Making leaf mould from autumn leaves",
             "Fallen autumn leaves, collected in a wire cage or sack, break down slowly through fungal action over one or two years. The resulting leaf mould improves soil structure and water retention."),
            ("Using finished compost in beds",
             "Mature compost is dark, crumbly and smells earthy, with the original ingredients no longer recognisable. Spread as a mulch or dug into beds, it feeds soil life and gradually releases nutrients."),
        ],
        "pruning": [
            ("Reasons to prune plants",
             "Pruning removes dead, damaged or crossing branches, improving air flow and reducing disease. It can also shape a plant, control its size and encourage more flowers or fruit."),
            ("Where to make each cut",
             "Cuts should be made just above an outward-facing bud at a slight angle, so that water runs off. Leaving a long stub invites rot, while cutting too close can damage the bud."),
            ("Winter work on apple trees",
             "Apple and pear trees are usually pruned while dormant in winter, when their framework is easy to see. Gardeners aim for an open goblet shape that lets light reach the developing fruit."),
            ("Cutting back bush roses",
             "Most bush roses are cut back hard in late winter or early spring, removing weak stems and reducing the strongest by about half. Deadheading spent blooms in summer encourages repeat flowering."),
            ("Secateurs, loppers and saws",
             "Bypass secateurs, which cut with a scissor action, make clean cuts on living stems up to about two centimetres thick. Loppers handle thicker branches, and a pruning saw tackles limbs beyond that."),
            ("Trimming shrubs after they flower",
             "Shrubs that bloom on last year's growth, such as forsythia and lilac, should be trimmed soon after their flowers fade. Cutting them in winter would remove the buds that carry next spring's display."),
        ],
        "growing tomatoes": [
            ("Cordon and bush tomato types",
             "Tomatoes are grouped as indeterminate, or cordon, types that keep growing tall and need staking, and determinate, or bush, types that stop at a set size. Bush plants suit containers and ripen their crop together."),
            ("Pinching out side shoots",
             "On cordon tomatoes, gardeners pinch out the side shoots that appear where leaves join the main stem. This directs the plant's energy into fruit and keeps growth manageable."),
            ("Dark patches on the fruit base",
             "A sunken, dark patch at the base of the fruit, called blossom end rot, results from a calcium shortage in the developing tomato. It is usually triggered by irregular watering rather than a lack of calcium in the soil."),
            ("Raising seedlings indoors",
             "Seeds are commonly sown indoors six to eight weeks before the last expected frost. Young plants are hardened off by gradually exposing them to outdoor conditions before planting out."),
            ("Potassium-rich feeding for a harvest",
             "Once the first flowers set fruit, a liquid feed high in potassium supports flowering and ripening. Too much nitrogen produces lush leaves at the expense of the harvest."),
            ("Late blight in humid summers",
             "Blight, caused by the water mould Phytophthora infestans, spreads in warm, humid weather and turns leaves and fruit brown. It is the same pathogen behind the Irish potato famine of the 1840s."),
        ],
        "watering and irrigation": [
            ("Deep and infrequent soaking",
             "Soaking the soil thoroughly once or twice a week encourages roots to grow deeper than frequent light sprinkling does. Deeper roots help plants cope with dry spells."),
            ("Drip lines at the root zone",
             "Drip systems deliver water slowly through emitters placed near each plant's base. They waste far less than overhead sprinklers because little is lost to evaporation or runoff, and foliage stays dry."),
            ("Morning versus evening watering",
             "Watering in the early morning lets moisture reach roots before the heat of the day and allows foliage to dry quickly. Evening watering can leave leaves wet overnight, encouraging fungal disease."),
            ("Mulch to hold soil moisture",
             "A layer of mulch such as bark chips, straw or compost reduces evaporation from the soil surface. It also keeps roots cooler in summer and suppresses weeds that compete for water."),
            ("Collecting rain in water butts",
             "Water butts connected to downpipes collect rain from roofs for use in the garden. Rainwater is free of chlorine and suits acid-loving plants such as blueberries and camellias."),
            ("Symptoms of waterlogged roots",
             "Too much water fills soil pores and starves roots of oxygen, causing yellowing leaves and wilting even though the soil is wet. Pots without drainage holes are especially prone to this problem."),
        ],
    },
    "geology": {
        "volcano types": [
            ("Broad shield volcanoes of Hawaii",
             "Shield volcanoes are broad, gently sloping mountains built from countless flows of fluid basaltic lava. Mauna Loa on Hawaii, one of the largest volcanoes on Earth, is a classic example."),
            ("Steep layered stratovolcanoes",
             "Stratovolcanoes, or composite cones, are steep mountains made of alternating layers of lava, ash and rock fragments. Their viscous, gas-rich magma often erupts explosively, as at Mount St. Helens in 1980."),
            ("Calderas from collapsed summits",
             "A caldera is a large basin that forms when a volcano's summit collapses into an emptied magma chamber after a major eruption. Crater Lake in Oregon fills a caldera created about 7,700 years ago."),
            ("Cinder cones and Parícutin",
             "Cinder cones are small, steep hills built from fragments of lava blasted into the air that fall around a single vent. Parícutin in Mexico famously grew out of a cornfield in 1943."),
            ("Deadly pyroclastic flows",
             "Pyroclastic flows are fast-moving avalanches of hot gas, ash and rock that rush down a volcano's flanks. Such a flow destroyed the town of Saint-Pierre on Martinique in 1902, killing nearly all its inhabitants."),
            ("Rating eruptions by explosivity",
             "Scientists rate eruptions on the Volcanic Explosivity Index, a logarithmic scale from 0 to 8 based largely on the volume of material ejected. The 1815 eruption of Tambora in Indonesia rated a 7."),
        ],
        "plate tectonics": [
            ("Wegener and continental drift",
             "In 1912 Alfred Wegener proposed that the continents had once been joined in a supercontinent later called Pangaea. He cited matching fossils and rock formations on opposite sides of the Atlantic, but lacked a convincing mechanism."),
            ("New crust at mid-ocean ridges",
             "At mid-ocean ridges, magma rises and solidifies to form new oceanic crust, pushing older seafloor outward. Symmetrical magnetic stripes on either side of the ridges confirmed seafloor spreading in the 1960s."),
            ("Trenches where plates sink",
             "Where a dense oceanic plate meets another plate, it can sink beneath it into the mantle. These subduction zones produce deep ocean trenches, such as the Mariana Trench, and chains of explosive volcanoes."),
            ("Plates sliding past each other",
             "At transform boundaries, two plates slide horizontally past each other without creating or destroying crust. California's San Andreas Fault marks such a boundary between the Pacific and North American plates."),
            ("How the Himalayas were raised",
             "The Himalayas formed as the Indian plate collided with Eurasia, beginning around 50 million years ago. Because both are continental plates, neither sinks easily, so the crust crumples and thickens into high mountains."),
            ("Forces that drive plate motion",
             "Plates move a few centimetres per year, roughly as fast as fingernails grow. The motion is driven by heat flow within the mantle, with the pull of sinking slabs thought to be an especially important force."),
        ],
        "earthquakes": [
            ("P waves, S waves and surface waves",
             "Earthquakes release energy as seismic waves. Primary waves compress rock and travel fastest, secondary waves shake it sideways, and surface waves arriving later usually cause the most damage."),
            ("The moment magnitude scale",
             "The moment magnitude scale measures the energy released by an earthquake. Each whole-number step corresponds to about 32 times more energy, so a magnitude 8 event is vastly more powerful than a magnitude 6."),
            ("Locating the focus and epicentre",
             "The focus, or hypocentre, is the point underground where rupture begins, while the epicentre lies directly above it on the surface. Seismologists locate them by comparing arrival times at several stations."),
            ("The great Chilean quake of 1960",
             "The most powerful earthquake ever recorded struck southern Chile in May 1960 with a magnitude of about 9.5. It generated a tsunami that crossed the Pacific and caused deaths in Hawaii and Japan."),
            ("How undersea ruptures cause tsunamis",
             "When an undersea earthquake suddenly lifts or drops the seafloor, it displaces a huge volume of water. The resulting waves cross ocean basins at the speed of a jet airliner and grow tall as they reach shallow coasts."),
            ("Designing buildings to withstand shaking",
             "Engineers reduce earthquake damage with flexible steel frames, reinforced concrete and base isolators that decouple a building from ground motion. Strict building codes help explain why similar quakes cause very different losses in different countries."),
        ],
        "rocks and minerals": [
            ("Igneous rocks from cooling magma",
             "Igneous rocks form when molten rock cools and solidifies. Slow cooling underground produces coarse-grained types such as granite, while rapid cooling at the surface creates fine-grained basalt or glassy obsidian."),
            ("Sedimentary strata and fossils",
             "Sedimentary rocks like sandstone, shale and limestone form from particles or shells that settle, are buried and become cemented. Their layers, called strata, often preserve fossils and record ancient environments."),
            ("Metamorphism under heat and pressure",
             "Heat and pressure deep in the crust can transform existing rocks without melting them. Limestone recrystallises into marble, and shale becomes slate, which splits into the flat sheets used for roofing."),
            ("Mohs scale of scratch hardness",
             "Friedrich Mohs devised a scale in 1812 ranking minerals by scratch resistance, from talc at 1 to diamond at 10. A mineral can scratch any other with a lower number on the scale."),
            ("Quartz and piezoelectric timekeeping",
             "Quartz, made of silicon and oxygen, is one of the most abundant minerals in the continental crust. Its crystals generate a small voltage when squeezed, a piezoelectric property used in watches to keep time."),
            ("Recycling rocks over geological time",
             "Over geological time, rocks are continually recycled: weathering breaks them into sediment, burial and pressure form new rock, and subduction can melt it back into magma. This sequence is known as the rock cycle."),
        ],
    },
    "ancient Rome": {
        "engineering": [
            ("Aqueducts supplying the capital",
             "Rome was supplied by eleven aqueducts built over about five centuries, carrying water from distant springs. They relied on a slight, continuous downhill gradient and ran mostly underground rather than on the famous arches."),
            ("Concrete made with volcanic ash",
             "Roman builders mixed lime with volcanic ash called pozzolana to make a concrete that could even set underwater. Many harbour structures built with it have survived two thousand years of waves."),
            ("The Pantheon's unreinforced dome",
             "The Pantheon, rebuilt under Emperor Hadrian around AD 125, has an unreinforced concrete dome about 43 metres across. An open oculus at its centre admits light and remains the building's only window."),
            ("Building the Appian Way",
             "The Appian Way, begun in 312 BC by the censor Appius Claudius Caecus, linked Rome with Capua and later with Brundisium on the Adriatic. Its layered construction with fitted paving stones set a pattern for roads across the empire."),
            ("The Pont du Gard near Nîmes",
             "The Pont du Gard in southern France is a three-tiered bridge that carried an aqueduct to the city of Nemausus, modern Nîmes. It stands nearly 50 metres high, and its main stones were laid without mortar."),
            ("Heated public baths and hypocausts",
             "Roman thermae offered a sequence of cold, warm and hot rooms heated by a hypocaust, a system of hollow floors through which hot air circulated. The Baths of Caracalla could hold well over a thousand bathers at once."),
        ],
        "gladiators": [
            ("Combat born from funeral rites",
             "Gladiatorial combat is thought to have begun as part of funeral rites for aristocrats, with the first recorded show in Rome in 264 BC. Over time the games became lavish public entertainments sponsored by politicians and emperors."),
            ("Opening of the Flavian Amphitheatre",
             "The Flavian Amphitheatre, now called the Colosseum, was inaugurated by Emperor Titus in AD 80 with games lasting a hundred days. It held an estimated 50,000 spectators, seated according to social rank."),
            ("Net fighters and their opponents",
             "Fighters were trained in distinct styles with specific equipment. The retiarius fought with a net and trident and was often matched against the secutor, who wore a smooth helmet and carried a large shield and short sword."),
            ("Training schools and the lanista",
             "Most gladiators were slaves, prisoners of war or condemned criminals, though some free men volunteered. They trained in schools called ludi under a manager known as a lanista and ate a diet rich in barley and beans."),
            ("The revolt led by Spartacus",
             "In 73 BC the Thracian gladiator Spartacus escaped from a school near Capua with about seventy companions. His growing army of slaves defeated several Roman forces before being crushed by Marcus Licinius Crassus in 71 BC."),
            ("Wild beast hunts in the arena",
             "Alongside duels, the arena staged venationes, hunts in which exotic beasts such as lions, bears and elephants were pitted against trained hunters. Underground passages and lifts beneath the Colosseum floor released animals by surprise."),
        ],
        "Julius Caesar": [
            ("Alliance with Pompey and Crassus",
             "Around 60 BC Gaius Julius Caesar formed an informal political alliance with Pompey and Crassus, later called the First Triumvirate. Their combined influence secured Caesar the consulship and a powerful provincial command."),
            ("Conquering Gaul and the siege of Alesia",
             "Between 58 and 50 BC Caesar's legions conquered Gaul, culminating in the siege of Alesia, where the chieftain Vercingetorix surrendered. Caesar described the campaigns in his own Commentaries."),
            ("Crossing the Rubicon in 49 BC",
             "In January 49 BC Caesar led an army across the Rubicon, the river marking the border of his province, an act that amounted to war against the Senate. The phrase now means passing a point of no return."),
            ("Reforming the Roman calendar",
             "As dictator, Caesar reformed the Roman calendar with advice from the astronomer Sosigenes. The Julian calendar of 365 days, with a leap day every fourth year, took effect in 45 BC."),
            ("Murder on the Ides of March",
             "On 15 March 44 BC a group of senators led by Brutus and Cassius stabbed Caesar to death at a Senate meeting in the Curia of Pompey. They hoped to restore the Republic but instead triggered further civil war."),
            ("Caesar, Cleopatra and Caesarion",
             "During the Alexandrian war of 48–47 BC Caesar supported Cleopatra VII in her struggle for the Egyptian throne. Their relationship produced a son, Ptolemy Caesar, nicknamed Caesarion."),
        ],
        "Roman army": [
            ("Marius creates a professional army",
             "Reforms associated with Gaius Marius around 107 BC opened enlistment to landless citizens, turning the army into a professional force. Soldiers now served long terms and looked to their generals for land at discharge."),
            ("Cohorts and centuries of a legion",
             "An imperial legion numbered roughly 5,000 heavy infantry, organised into ten cohorts. Each cohort contained centuries of about eighty men commanded by a centurion."),
            ("Shield, sword and javelins",
             "A legionary carried a large curved shield called a scutum, a short stabbing sword known as the gladius, and two throwing javelins, or pila. Segmented iron body armour became common in the first century AD."),
            ("Fortified marching camps",
             "At the end of each day's march, troops built a fortified camp with a ditch, an earth rampart and a palisade, laid out to a standard grid. The routine protected the army in hostile territory."),
            ("The tortoise shield formation",
             "In the testudo, or tortoise, formation soldiers locked shields overhead and along the sides to shelter from missiles. It was especially useful when approaching enemy walls during a siege."),
            ("Hadrian's frontier wall in Britain",
             "Built from AD 122 on the orders of Emperor Hadrian, the wall stretched about 117 kilometres across northern Britain. It was garrisoned by auxiliary troops from across the empire and punctuated by milecastles and forts."),
        ],
    },
    "cardiology": {
        "blood pressure": [
            ("Systolic and diastolic readings",
             "Blood pressure is recorded as two numbers: systolic pressure, while the heart contracts, over diastolic pressure, while it relaxes between beats. A typical healthy adult reading is around 120 over 80 millimetres of mercury."),
            ("Hypertension as a silent risk",
             "High blood pressure often produces no symptoms for years, yet it strains arteries and the heart. Untreated, it raises the risk of stroke, heart failure, kidney disease and heart attack."),
            ("Lowering pressure through lifestyle",
             "Reducing dietary sodium, staying physically active, limiting alcohol and maintaining a healthy weight can all lower blood pressure. The DASH eating plan emphasises fruit, vegetables, whole grains and low-fat dairy."),
            ("Drug classes for hypertension",
             "Common drugs for hypertension include ACE inhibitors, calcium channel blockers, thiazide diuretics and beta blockers. Doctors often combine low doses of two agents for better control with fewer side effects."),
            ("White-coat effect and home monitoring",
             "Some patients show raised readings only in the clinic, a phenomenon called white-coat hypertension. Wearing a cuff that records readings over 24 hours, or measuring at home, gives a more reliable picture."),
            ("Dizziness from low pressure",
             "Abnormally low blood pressure can cause dizziness or fainting, particularly when standing up quickly. This orthostatic drop occurs when blood vessels fail to adjust fast enough to the change in posture."),
        ],
        "heart attack": [
            ("A clot in a coronary artery",
             "A myocardial infarction occurs when blood flow through a coronary artery is blocked, usually by a clot forming on a ruptured fatty plaque. Heart muscle deprived of oxygen begins to die within minutes."),
            ("Recognising the warning symptoms",
             "Typical symptoms include crushing chest pain that may spread to the arm, jaw or back, along with breathlessness, sweating and nausea. Women and people with diabetes more often experience atypical or milder signs."),
            ("ECG changes and troponin tests",
             "Doctors diagnose an infarction using an electrocardiogram, which may show ST-segment elevation, and blood tests for troponin. This protein is released into the bloodstream when heart muscle cells are damaged."),
            ("Reopening arteries with balloons and stents",
             "In primary angioplasty, a cardiologist threads a catheter through an artery to the blockage, inflates a balloon to reopen it and usually places a mesh tube called a stent. The faster this happens, the more muscle is saved."),
            ("Aspirin while waiting for paramedics",
             "Emergency guidelines often recommend chewing aspirin while awaiting help, unless the person is allergic, because it reduces platelet clumping. Calling emergency services immediately matters, since survival falls with every minute of delay."),
            ("Recovery through cardiac rehabilitation",
             "After discharge, patients are usually offered cardiac rehabilitation, a supervised programme of exercise, education and emotional support. It lowers the chance of another event and helps people return to normal activity."),
        ],
        "arrhythmias": [
            ("Atrial fibrillation and stroke risk",
             "Atrial fibrillation is the most common sustained rhythm disorder, in which the upper chambers quiver chaotically instead of contracting. Blood can pool and clot in the atria, so patients often take anticoagulants to prevent stroke."),
            ("The sinoatrial node sets the beat",
             "Each heartbeat starts in the sinoatrial node, a cluster of specialised cells in the right atrium. The impulse spreads across the atria, pauses at the atrioventricular node, and then travels down to the ventricles."),
            ("Implanted pacemakers for slow rhythms",
             "An implanted pacemaker is a small battery-powered device placed under the skin near the collarbone, with leads running into the heart. It sends electrical pulses whenever the natural rhythm is too slow."),
            ("Ventricular fibrillation and defibrillation",
             "Ventricular fibrillation is a chaotic rhythm in which the heart stops pumping effectively, causing cardiac arrest within seconds. A shock from a defibrillator can restore normal rhythm, and public automated devices let bystanders help."),
            ("Recording palpitations with a Holter monitor",
             "Intermittent palpitations may not appear during a brief clinic test, so doctors use a portable Holter monitor that records the heart's electrical activity continuously for a day or more while patients note their symptoms."),
            ("Curing fast rhythms by ablation",
             "In catheter ablation, thin wires guided through blood vessels deliver heat or cold to destroy small areas of tissue causing abnormal rhythms. The procedure can cure certain fast rhythms such as supraventricular tachycardia."),
        ],
        "heart valves": [
            ("Four valves and the heart sounds",
             "The heart has four valves, the tricuspid, pulmonary, mitral and aortic, that keep blood flowing in one direction. Their closing produces the familiar lub-dub sounds heard through a stethoscope."),
            ("Narrowing of the aortic valve",
             "Aortic stenosis is narrowing of the valve between the left ventricle and the aorta, often due to calcium build-up in older age. It can cause breathlessness, chest pain and fainting on exertion."),
            ("Backward leaks through the mitral valve",
             "In mitral regurgitation, the valve between the left atrium and ventricle fails to seal, so blood leaks backward with each contraction. Severe leaks enlarge the heart and may eventually lead to heart failure."),
            ("What a murmur can mean",
             "A murmur is a whooshing or swishing sound caused by turbulent blood flow, often across a narrowed or leaky valve. Many murmurs in children are innocent, but others need an echocardiogram to investigate."),
            ("Mechanical or tissue replacement valves",
             "Damaged valves can be replaced with mechanical prostheses made of durable materials or with biological valves from pig or cow tissue. Mechanical valves last longer but require lifelong blood-thinning medication."),
            ("Valve implantation through a catheter",
             "Transcatheter aortic valve implantation delivers a collapsible replacement valve through an artery in the groin. It avoids open-heart surgery and is often chosen for older patients at high surgical risk."),
        ],
    },
    "finance": {
        "cryptocurrency": [
            ("Satoshi Nakamoto's white paper",
             "In 2008 a person or group using the name Satoshi Nakamoto published a paper describing Bitcoin, a peer-to-peer electronic cash system. The network launched in January 2009 with the mining of its first block."),
            ("Proof of work and block rewards",
             "Bitcoin miners compete to find a number that, combined with a block's data, produces a hash below a target value. The winner adds the block to the chain and receives newly created coins plus transaction fees."),
            ("Fixed supply and the halving",
             "The protocol caps the total supply at 21 million bitcoins. Roughly every four years the block reward is cut in half, an event called the halving, gradually slowing the issuance of new coins."),
            ("Private keys and wallets",
             "Ownership of cryptocurrency is controlled by private keys, secret numbers used to sign transactions. A wallet stores these keys, and losing them usually means the funds can never be recovered."),
            ("Ethereum and smart contracts",
             "Ethereum, launched in 2015, extends the blockchain idea with smart contracts, programs stored on the ledger that run automatically when conditions are met. In 2022 it switched from mining to proof of stake."),
            ("The energy cost of mining",
             "Proof-of-work networks consume large amounts of electricity because miners run specialised hardware continuously. Critics cite the environmental cost, while supporters argue that mining increasingly uses surplus or renewable power."),
        ],
        "stock market": [
            ("What owning a share means",
             "A share of stock represents part ownership of a company, entitling the holder to a portion of its profits and usually a vote at shareholder meetings. Companies issue shares to raise capital for growth."),
            ("Going public with an IPO",
             "An initial public offering, or IPO, is the first sale of a company's shares to the public. Investment banks typically help set the price and underwrite the deal before trading begins on an exchange."),
            ("Benchmarks like the S&P 500",
             "Indices such as the S&P 500 and the FTSE 100 track the combined performance of a basket of companies. Investors use them as benchmarks to judge how well the broader market is doing."),
            ("Bull and bear phases",
             "A bull market describes a sustained rise in prices, while a bear market commonly means a fall of 20 percent or more from a recent peak. The names are said to reflect how each animal strikes, upward or downward."),
            ("Passive investing with index funds",
             "Index funds aim to match a market benchmark rather than beat it, holding the same securities in the same proportions. John Bogle's Vanguard launched the first such fund for retail investors in 1976, popularising low-cost passive investing."),
            ("Dividends and dividend yield",
             "Many established companies pay shareholders a portion of their earnings as dividends, often every quarter. The dividend yield expresses the annual payout as a percentage of the current share price."),
        ],
        "inflation and central banks": [
            ("Tracking prices with a CPI",
             "Inflation is the general rise in prices over time, reducing what a unit of money can buy. Statistical agencies track it with a consumer price index that follows the cost of a representative basket of goods and services."),
            ("The two percent target",
             "Many central banks, including the Federal Reserve and the European Central Bank, aim to keep inflation near 2 percent a year. Stable, predictable prices help households and businesses plan ahead."),
            ("Raising rates to cool demand",
             "To cool an overheating economy, a central bank raises its policy rate, making borrowing more expensive. Higher rates slow spending and investment, which eases pressure on prices over time."),
            ("Quantitative easing explained",
             "When interest rates are already near zero, central banks may buy large amounts of government bonds and other assets, a policy called quantitative easing. The purchases inject money and push down longer-term borrowing costs."),
            ("When money loses its value quickly",
             "Hyperinflation is extremely rapid price growth, often defined as more than 50 percent per month. Weimar Germany in 1923 and Zimbabwe in the late 2000s saw their currencies become almost worthless."),
            ("The danger of falling prices",
             "Deflation, a sustained fall in prices, can encourage people to delay purchases in expectation of lower costs. Japan struggled with persistent mild deflation for long stretches after its asset bubble burst in the early 1990s."),
        ],
        "bonds": [
            ("Coupons, face value and maturity",
             "A bond is a loan from an investor to a government or company, which promises to pay regular interest, called coupons, and to repay the face value on a set maturity date."),
            ("Why prices fall when yields rise",
             "Bond prices move inversely to yields. When market interest rates rise, existing bonds paying lower coupons become less attractive, so their prices fall until their yields match those of new issues."),
            ("Credit ratings and junk debt",
             "Agencies such as Moody's, S&P and Fitch grade borrowers' creditworthiness. Bonds rated below investment grade, sometimes called junk bonds, pay higher yields to compensate for greater default risk."),
            ("Reading an inverted yield curve",
             "The yield curve plots interest rates on bonds of the same issuer across different maturities. An inverted curve, where short-term yields exceed long-term ones, has often preceded recessions."),
            ("Treasuries, gilts and Bunds",
             "US Treasury securities, British gilts and German Bunds are considered among the safest bonds. Investors often buy them during market turmoil, a movement described as a flight to quality."),
            ("Bonds sold at a discount",
             "A zero-coupon bond pays no periodic interest. Instead it is sold at a discount to its face value, and the investor's return is the difference received when it matures."),
        ],
    },
    "marine biology": {
        "coral reefs": [
            ("Polyps and their algal partners",
             "Reef-building corals are colonies of tiny animals called polyps that secrete skeletons of calcium carbonate. Inside their tissues live microscopic algae, zooxanthellae, which photosynthesise and supply much of the coral's food."),
            ("Bleaching in warm water",
             "When water becomes unusually warm, stressed corals expel their symbiotic algae and turn white. If temperatures do not return to normal soon, bleached colonies may starve and die."),
            ("The Great Barrier Reef",
             "Stretching over 2,300 kilometres off Queensland, Australia, the Great Barrier Reef is the largest reef system on Earth. It comprises thousands of individual reefs and hundreds of islands."),
            ("A quarter of marine species",
             "Although they cover a tiny fraction of the ocean floor, reefs support roughly a quarter of all known marine species. Their complex structure provides shelter, nurseries and feeding grounds."),
            ("Darwin's theory of atolls",
             "Charles Darwin proposed that atolls form when fringing reefs grow around a volcanic island that slowly subsides. Eventually the island disappears, leaving a ring of coral surrounding a lagoon."),
            ("Acidifying seas weaken skeletons",
             "As seawater absorbs carbon dioxide from the atmosphere, it becomes more acidic, reducing the carbonate ions corals need to build skeletons. This makes reefs grow more slowly and become more fragile."),
        ],
        "whales": [
            ("Filter feeding through baleen plates",
             "Baleen whales have no teeth; instead, plates of keratin hang from the upper jaw. They gulp or skim water full of krill and small fish, then push it out so the prey is trapped by the bristles."),
            ("The largest animal ever known",
             "The blue whale is the largest animal known to have lived, reaching about 30 metres in length. Despite its size, it feeds almost entirely on tiny crustaceans, eating several tonnes a day."),
            ("Songs of male humpbacks",
             "Male humpback whales produce long, complex songs composed of repeated themes. All males in a population tend to sing a similar song, which gradually changes from season to season."),
            ("Biological sonar in toothed whales",
             "Toothed whales such as dolphins and sperm whales produce rapid clicks and listen for the returning echoes. This echolocation lets them find prey and navigate in dark or murky water."),
            ("Deep dives of the sperm whale",
             "Sperm whales dive beyond a kilometre deep to hunt squid, holding their breath for an hour or more. Their huge heads contain spermaceti, a waxy substance once prized for candles and lubricants."),
            ("Ending commercial whaling",
             "Industrial hunting drove several species close to extinction during the twentieth century. In 1986 the International Whaling Commission's moratorium on commercial whaling came into force, and some populations have since recovered."),
        ],
        "sharks": [
            ("Skeletons of cartilage and denticles",
             "Sharks belong to a group of fishes whose skeletons are made of cartilage rather than bone. Their skin is covered in tooth-like scales called dermal denticles, which reduce drag as they swim."),
            ("Sensing the electric fields of prey",
             "Sharks can detect weak electric fields produced by the muscles of prey using pores on the snout called ampullae of Lorenzini. This sense helps them find animals hidden under sand."),
            ("The gentle whale shark",
             "The whale shark is the largest living fish, growing over 12 metres long. It is a gentle filter feeder that swims with its mouth open, sieving plankton and small fish from the water."),
            ("Great whites hunting seals",
             "Great white sharks are powerful predators of seals and other marine mammals in cool coastal waters. They often attack from below and can keep parts of their bodies warmer than the surrounding sea."),
            ("Overfishing and the fin trade",
             "Tens of millions of sharks are killed each year, many for their fins, which are used in soup. Because sharks grow slowly and produce few young, overfishing has caused steep population declines."),
            ("Teeth replaced like a conveyor belt",
             "A shark's teeth grow in rows and move forward like a conveyor belt as older ones are lost. Some species shed thousands of teeth in a lifetime, which is why fossil shark teeth are so common."),
        ],
        "cephalopods": [
            ("Problem solving in octopuses",
             "Octopuses have large brains relative to their bodies, with most of their neurons located in the arms. In laboratory studies they solve puzzles, unscrew jars and learn by watching others."),
            ("Colour change with chromatophores",
             "Cuttlefish, squid and octopuses change colour in a fraction of a second using skin cells called chromatophores, each filled with pigment and controlled by muscles. They can also alter skin texture to match rocks or seaweed."),
            ("The elusive giant squid",
             "The giant squid, Architeuthis, lives in the deep ocean and may reach about 12 metres including its long feeding tentacles. It was first filmed alive in its natural habitat in 2012."),
            ("Clouds of ink as decoys",
             "When threatened, many cephalopods squirt a cloud of dark ink containing melanin. The ink can confuse predators and act as a decoy while the animal jets away."),
            ("Swimming by jet propulsion",
             "Squid and octopuses swim by drawing water into the mantle cavity and forcing it out through a muscular funnel called the siphon. By pointing the siphon, they can steer in any direction."),
            ("The chambered shell of the nautilus",
             "The nautilus is the only living cephalopod with an external shell, which is divided into chambers. By adjusting gas and fluid in these chambers, it controls its buoyancy as it moves up and down the reef slope."),
        ],
    },
    "railways": {
        "steam locomotives": [
            ("Stephenson's Rocket at Rainhill",
             "Rocket, built by George and Robert Stephenson, won the Rainhill Trials in 1829, held to select engines for the Liverpool and Manchester Railway. Its multi-tube boiler became a standard feature of later designs."),
            ("From firebox to driving wheels",
             "A locomotive's firebox burns coal to heat water in the boiler, producing high-pressure steam. The steam pushes pistons back and forth in cylinders, and connecting rods turn this motion into rotation of the driving wheels."),
            ("Mallard's 1938 speed record",
             "In July 1938 the streamlined British engine Mallard reached 126 miles per hour, about 203 km/h, on a slight downhill gradient. This remains the world speed record for a steam locomotive."),
            ("Whyte notation for wheel arrangements",
             "Steam engines are often described with Whyte notation, which counts leading, driving and trailing wheels. A 4-6-2, for example, has four leading wheels, six coupled driving wheels and two trailing wheels, and is nicknamed a Pacific."),
            ("Diesel and electric replace steam",
             "During the mid-twentieth century most railways replaced steam with diesel and electric traction, which needed less maintenance and fewer crew. British Rail ran its last standard-gauge steam service in 1968."),
            ("Volunteers keep heritage lines running",
             "Volunteers around the world restore and operate old steam engines on preserved lines. These heritage railways attract tourists and keep traditional skills such as boilermaking alive."),
        ],
        "high-speed rail": [
            ("Japan's first Shinkansen line",
             "Japan's Tokaido Shinkansen opened in 1964, linking Tokyo and Osaka in time for the Tokyo Olympics. Its streamlined trains, nicknamed bullet trains, introduced the world to dedicated high-speed lines."),
            ("The TGV and its record run",
             "France's TGV entered service in 1981 between Paris and Lyon. In 2007 a specially modified test trainset reached 574.8 km/h, the speed record for a conventional wheeled train."),
            ("Magnetic levitation in Shanghai",
             "Magnetic levitation trains float above a guideway using powerful magnets, eliminating wheel friction. The Shanghai maglev, which began commercial service in 2004, links the city with Pudong airport and was the first high-speed maglev open to the public."),
            ("Engineering lines for 300 km/h",
             "High-speed lines use gentle curves, banked track and continuously welded rails so trains can run safely above 250 km/h. Level crossings are eliminated, and cab signalling replaces lineside signals that drivers could not read in time."),
            ("China's vast fast network",
             "Since its first dedicated lines opened around 2008, China has built the world's largest high-speed rail network, exceeding 40,000 kilometres. The Beijing–Shanghai line is among the busiest."),
            ("Competing with short-haul flights",
             "On journeys of roughly 300 to 800 kilometres, fast trains often compete strongly with airlines because stations are in city centres and boarding is quick. After Eurostar opened, rail captured most of the London–Paris travel market."),
        ],
        "railway signalling": [
            ("Keeping trains apart with blocks",
             "Railways keep trains apart by dividing the line into sections called blocks, and only one train is allowed in each block at a time. This principle prevents rear-end collisions, since trains need long distances to stop."),
            ("Semaphore arms and signal levers",
             "Early mechanical signals used a pivoting arm on a post: horizontal meant stop, while a raised or lowered arm indicated proceed. Signalmen moved them with levers connected by wires."),
            ("Interlocking prevents conflicting routes",
             "Interlocking prevents a signaller from setting conflicting routes. Mechanical or electronic logic ensures that a signal cannot clear unless the points are correctly set and locked for the train's path."),
            ("Detecting trains with track circuits",
             "A track circuit passes a small electric current through the rails. When a train's wheels and axles bridge the rails, the circuit is shorted, showing that the section is occupied."),
            ("Red, yellow and green aspects",
             "Modern lineside signals use coloured lamps: red for danger, yellow for caution and green for clear. Multiple-aspect signals with two yellow lights give drivers additional warning on busy routes."),
            ("In-cab authority with ETCS",
             "The European Train Control System sends movement authorities directly to a display in the driver's cab. At higher levels it supervises speed continuously and applies the brakes automatically if limits are exceeded."),
        ],
        "metro systems": [
            ("London's Metropolitan Railway of 1863",
             "The Metropolitan Railway opened in London in 1863 as the world's first underground railway, using steam locomotives in shallow tunnels. Its success led to the network now known as the Tube."),
            ("Cut-and-cover versus deep tunnels",
             "Early metro lines were often built by digging a trench along a street, laying the track and covering it over. Deeper lines are bored with tunnelling shields, which cause less disruption at the surface."),
            ("Power from a third rail",
             "Many metros draw electricity from a third rail running alongside the running rails, with a sliding shoe on the train collecting the current. Other systems use overhead wires instead."),
            ("Trains without drivers",
             "Automated metros run without a driver on board, with computers controlling acceleration, braking and door operation. Copenhagen, Dubai and several lines in Paris operate fully automatic trains at short intervals."),
            ("Palatial stations in Moscow",
             "Moscow's metro, opened in 1935, is famous for ornate stations decorated with marble, chandeliers and mosaics. They were designed as palaces for the people and also served as air-raid shelters."),
            ("Glass doors at platform edges",
             "Glass barriers along platform edges open only when a train is aligned with them. They prevent falls onto the track, improve ventilation and cooling efficiency, and let automated trains stop at precise positions."),
        ],
    },
}

# topic -> subtopic -> query text (one query per subtopic)
QUERIES = {
    "astronomy": {
        "black holes": "what happens to light near a collapsed star",
        "exoplanets": "how do astronomers find planets orbiting other stars",
        "the Moon": "how the Moon formed and how it affects Earth",
        "comets": "icy visitors with glowing tails from the outer solar system",
    },
    "cooking": {
        "bread baking": "why homemade loaf dough rises and forms a crust",
        "sauces": "how to thicken and emulsify a classic French sauce",
        "fermentation": "making sauerkraut, yogurt and other fermented foods at home",
        "spices": "getting more flavour from whole spices and chillies",
    },
    "football": {
        "rules and refereeing": "when is a soccer player judged offside or sent off",
        "goalkeeping": "what makes a great goalkeeper in football",
        "World Cup history": "which countries have won the football World Cup",
        "tactics and formations": "different team formations and playing styles in soccer",
    },
    "classical music": {
        "Baroque era": "music of Bach, Vivaldi and Handel before 1750",
        "opera": "sung stage drama with arias by Verdi and Wagner",
        "symphony orchestra": "how a symphony orchestra is organised and led",
        "chamber music": "small ensemble music for string quartet and piano trio",
    },
    "computer programming": {
        "version control": "tracking code changes with git branches and commits",
        "memory management": "how programs allocate and free memory automatically or manually",
        "unit testing": "writing automated tests to catch bugs in functions",
        "compilers and interpreters": "how source code gets translated into something a computer runs",
    },
    "gardening": {
        "composting": "turning kitchen scraps and leaves into garden soil",
        "pruning": "when and how to cut back shrubs and trees",
        "growing tomatoes": "tips for a healthy tomato crop in the garden",
        "watering and irrigation": "how often and when should I water my plants",
    },
    "geology": {
        "volcano types": "different kinds of volcanoes and how violently they erupt",
        "plate tectonics": "why continents move and how mountains and trenches form",
        "earthquakes": "what makes the ground shake and how quake strength is measured",
        "rocks and minerals": "how granite, marble and sandstone are formed",
    },
    "ancient Rome": {
        "engineering": "how Romans built aqueducts, roads and domes that lasted",
        "gladiators": "fights in the arena for Roman crowds",
        "Julius Caesar": "life and assassination of the Roman dictator Caesar",
        "Roman army": "how Roman legions were organised, armed and fought",
    },
    "cardiology": {
        "blood pressure": "what counts as high blood pressure and how to lower it",
        "heart attack": "signs and treatment of a blocked artery in the heart",
        "arrhythmias": "irregular heartbeat causes and treatments like pacemakers",
        "heart valves": "problems with leaky or narrowed heart valves",
    },
    "finance": {
        "cryptocurrency": "how does bitcoin mining and blockchain work",
        "stock market": "beginner guide to buying company shares and market indexes",
        "inflation and central banks": "why prices rise and how central banks respond",
        "bonds": "how government and corporate bonds pay interest",
    },
    "marine biology": {
        "coral reefs": "why tropical reefs are bleaching and what lives there",
        "whales": "how giant ocean mammals feed, dive and communicate",
        "sharks": "senses, teeth and threats facing sharks today",
        "cephalopods": "how octopus and squid change colour and escape predators",
    },
    "railways": {
        "steam locomotives": "history of coal-fired locomotives and their speed records",
        "high-speed rail": "fastest passenger trains like the bullet train and TGV",
        "railway signalling": "how railways stop trains from colliding on the same track",
        "metro systems": "history and technology of city subway systems",
    },
}

N_TOPICS = 12
N_SUBTOPICS = 4
N_DOCS = 6


def _words(s):
    return len(s.split())


def _validate():
    """Fail loudly if the hand-written data drifts from the intended shape."""
    assert len(DOCS) == N_TOPICS, len(DOCS)
    assert set(QUERIES) == set(DOCS)
    seen_texts = set()
    titles = set()
    for topic, subs in DOCS.items():
        assert len(subs) == N_SUBTOPICS, topic
        assert set(QUERIES[topic]) == set(subs), topic
        for sub, docs in subs.items():
            assert len(docs) == N_DOCS, (topic, sub)
            for title, text in docs:
                assert 3 <= _words(title) <= 8, ("title length", title)
                assert 20 <= _words(text) <= 60, ("text length", _words(text), title)
                assert text not in seen_texts, ("duplicate text", title)
                seen_texts.add(text)
                titles.add(title.lower())
    for topic, subs in QUERIES.items():
        for sub, q in subs.items():
            assert 4 <= _words(q) <= 12, ("query length", q)
            assert q.lower() not in titles, ("query copies a title", q)


def _write_atomic(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


def build(out_dir=HERE):
    """Write corpus.jsonl, queries.jsonl and qrels/test.tsv into ``out_dir``."""
    _validate()
    corpus, queries, qrels = [], [], []
    n_doc = n_query = 0
    for topic in sorted(DOCS):
        topic_docs = {}  # subtopic -> list of doc ids
        for sub in sorted(DOCS[topic]):
            ids = []
            for title, text in DOCS[topic][sub]:
                n_doc += 1
                doc_id = "d%03d" % n_doc
                ids.append(doc_id)
                corpus.append({
                    "_id": doc_id,
                    "title": title,
                    "text": text,
                    "metadata": {"topic": topic, "subtopic": sub},
                })
            topic_docs[sub] = ids
        for sub in sorted(DOCS[topic]):
            n_query += 1
            qid = "q%02d" % n_query
            queries.append({
                "_id": qid,
                "text": QUERIES[topic][sub],
                "metadata": {"topic": topic, "subtopic": sub},
            })
            rels = []
            for other_sub, ids in topic_docs.items():
                score = 2 if other_sub == sub else 1
                rels.extend((doc_id, score) for doc_id in ids)
            for doc_id, score in sorted(rels):
                qrels.append("%s\t%s\t%d" % (qid, doc_id, score))

    dumps = lambda obj: json.dumps(obj, ensure_ascii=False)  # noqa: E731
    _write_atomic(os.path.join(out_dir, "corpus.jsonl"), [dumps(d) for d in corpus])
    _write_atomic(os.path.join(out_dir, "queries.jsonl"), [dumps(q) for q in queries])
    _write_atomic(os.path.join(out_dir, "qrels", "test.tsv"),
                  ["query-id\tcorpus-id\tscore"] + qrels)
    return len(corpus), len(queries), len(qrels)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Rebuild the tfsearch demo dataset (BEIR layout).")
    parser.add_argument("--output", default=HERE, help="folder to write (default: next to this script)")
    args = parser.parse_args(argv)
    n_docs, n_queries, n_qrels = build(args.output)
    print("wrote %d documents, %d queries, %d qrels to %s"
          % (n_docs, n_queries, n_qrels, args.output))


if __name__ == "__main__":
    main()
