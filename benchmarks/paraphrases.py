"""Requests that describe an ml-100k genre without naming it, in English and Chinese.

Three sets, kept apart so that what is tuned is never what is reported:

- ``PARAPHRASES``: the first set, written before any tuning (2026-12-05). The parser was changed
  once after looking at how it read them, so it is not a fully untouched test any more.
- ``DEV``: written on 2026-12-06 for tuning the shared-space category match (thresholds, hubness
  correction); two per genre. Tuning reads only these.
- ``FRESH``: written on 2026-12-06 together with ``DEV``, before any measurement, and committed
  before the change they test; read only by `make bench-requests`.

None is ever trained on (training synthesizes requests from templates).
"""

from __future__ import annotations

PARAPHRASES: dict[str, tuple[str, str]] = {
    "Action": ("non-stop fights, chases and explosions", "打斗追车爆炸不断的"),
    "Adventure": ("a journey to far-off lands in search of treasure", "去远方寻宝的旅程"),
    "Animation": ("a cartoon, drawn rather than filmed", "画出来的卡通片"),
    "Children's": ("something my six-year-old can watch", "适合六岁孩子看的"),
    "Comedy": ("something that makes me laugh out loud", "能让我笑出声的"),
    "Crime": ("gangsters, a heist and the police on their trail", "黑帮抢劫和警察追捕"),
    "Documentary": ("real events told without actors", "没有演员、讲真实事件的"),
    "Drama": ("a serious, emotional story about people's lives", "讲人生的严肃感人的故事"),
    "Fantasy": ("wizards, dragons and magic kingdoms", "巫师、龙和魔法王国"),
    "Film-Noir": ("a 1940s detective in shadowy black-and-white streets", "四十年代阴暗街头的侦探"),
    "Horror": ("something with haunted houses and ghosts", "有鬼屋和幽灵的"),
    "Musical": ("characters bursting into song and dance", "角色一言不合就唱歌跳舞的"),
    "Mystery": ("a whodunit where I guess the culprit", "猜凶手的推理故事"),
    "Romance": ("two people falling in love", "两个人坠入爱河的"),
    "Sci-Fi": ("aliens, spaceships and the distant future", "讲外星人和宇宙飞船的"),
    "Thriller": ("keeps me on the edge of my seat with suspense", "让我紧张得坐立不安的"),
    "War": ("soldiers on the battlefield", "士兵在战场上的"),
    "Western": ("cowboys and gunfights in the Old West", "西部牛仔和枪战"),
}  # fmt: skip

DEV: dict[str, tuple[tuple[str, str], ...]] = {
    "Action": (("lots of punches, car crashes and gunfire", "全程打斗和枪战的"),
               ("a muscle-bound hero blowing things up", "肌肉英雄大场面爆破的")),
    "Adventure": (("explorers crossing jungles and deserts", "探险家穿越丛林和沙漠的"),
                  ("an epic quest across unknown lands", "穿越未知大陆的史诗旅程")),
    "Animation": (("a Pixar-style picture with talking toys", "会说话的玩具的卡通"),
                  ("characters made of pencil lines and paint", "用铅笔线条和颜料画成的角色")),
    "Children's": (("a film for the whole family with little kids", "全家和小朋友一起看的"),
                   ("something safe for a toddler", "适合幼儿的")),
    "Comedy": (("jokes and silly situations all the way", "笑点密集的搞笑片"),
               ("a hilarious film full of gags", "让人捧腹大笑的")),
    "Crime": (("a mob boss and a bank robbery", "黑手党老大和银行抢劫"),
              ("drug dealers and corrupt cops", "毒贩和腐败警察的")),
    "Documentary": (("a true story filmed as it happened, no script", "真实记录、没有剧本的"),
                    ("a nature film about real animals", "拍摄真实野生动物的")),
    "Drama": (("a moving story about family and loss", "关于家庭和失去的动人故事"),
              ("a tearjerker", "催人泪下的")),
    "Fantasy": (("elves, spells and enchanted forests", "精灵、咒语和魔法森林"),
                ("a fairy-tale world of sorcery", "巫术的童话世界")),
    "Film-Noir": (("a cynical private eye and a femme fatale", "愤世嫉俗的私家侦探和蛇蝎美人"),
                  ("smoky black-and-white detective stories of the forties",
                   "烟雾缭绕的黑白老式侦探片")),
    "Horror": (("monsters and screaming in the dark", "黑暗中的怪物和尖叫"),
               ("a scary film that gives me nightmares", "看了会做噩梦的吓人电影")),
    "Musical": (("a show full of songs and dance numbers", "满是歌舞表演的"),
                ("people singing instead of talking", "人物用唱歌代替说话的")),
    "Mystery": (("a puzzle of clues to work out who did it", "解开线索找出真凶的"),
                ("a detective unravelling a secret", "侦探揭开秘密的")),
    "Romance": (("a couple finding each other against the odds", "一对恋人历经波折终成眷属"),
                ("a date-night film about a first kiss", "关于初吻的约会电影")),
    "Sci-Fi": (("robots, time travel and faraway planets", "机器人、时间旅行和遥远星球"),
               ("space exploration in the future", "未来的太空探索")),
    "Thriller": (("a tense cat-and-mouse chase with a twist", "紧张刺激的猫鼠游戏"),
                 ("nail-biting suspense", "扣人心弦的悬念")),
    "War": (("the trenches of World War II", "二战战壕里的"),
            ("an army platoon fighting overseas", "在海外作战的步兵排")),
    "Western": (("a sheriff, a saloon and a showdown at noon", "警长、酒馆和正午对决"),
                ("horses, ranches and outlaws on the frontier", "边疆的马、牧场和亡命之徒")),
}  # fmt: skip

# Written 2026-12-07 before any measurement on them, for tuning the zero-shot leaning's
# category vectors (genrec.requests.leaning) on more than DEV's 36 texts a language: DEV too.
DEV2: dict[str, tuple[tuple[str, str], ...]] = {
    "Action": (("a cop who jumps off buildings and wins every fistfight",
                "从楼顶跳下、每场拳战都赢的警察"),
               ("an adrenaline rush from start to finish", "从头到尾肾上腺素飙升的")),
    "Adventure": (("pirates, maps and a hidden temple", "海盗、地图和隐秘的神庙"),
                  ("a daring trek up an uncharted mountain", "攀登未知高山的冒险跋涉")),
    "Animation": (("hand-drawn frames brought to life", "一帧帧手绘出来的"),
                  ("computer-animated animals that talk", "电脑动画做的会说话的动物")),
    "Children's": (("a story for kids about a lost puppy", "给小孩看的关于走失小狗的故事"),
                   ("suitable for a ten-year-old's birthday party", "适合十岁孩子生日会看的")),
    "Comedy": (("a goofy film with pratfalls and puns", "各种摔跤和双关语的搞笑片"),
               ("something light that cracks me up", "轻松又能逗乐我的")),
    "Crime": (("a hitman and the detectives hunting him", "杀手和追捕他的警探"),
              ("a con artist pulling off a big swindle", "骗子策划一场大骗局的")),
    "Documentary": (("interviews and archive footage about a real event",
                     "关于真实事件的采访和历史影像"),
                    ("a factual film about how things really work", "讲事物真实原理的纪实片")),
    "Drama": (("a quiet character study about growing old", "关于衰老的安静人物刻画"),
              ("a story of a family torn apart", "一个家庭分崩离析的故事")),
    "Fantasy": (("a quest to destroy a cursed ring", "摧毁被诅咒戒指的征程"),
                ("unicorns and a kingdom under a spell", "独角兽和被施了咒语的王国")),
    "Film-Noir": (("a double-cross in a dim nightclub, shot in black and white",
                   "昏暗夜总会里的背叛，黑白拍摄"),
                  ("a doomed man pulled into a murder plot by a seductive woman",
                   "被诱人女子拖进谋杀阴谋的倒霉男人")),
    "Horror": (("a killer in a mask stalking teenagers", "戴面具的杀手追杀青少年"),
               ("zombies rising from their graves", "从坟墓里爬出来的僵尸")),
    "Musical": (("a Broadway show on the big screen", "搬上大银幕的百老汇演出"),
                ("tap dancing and big choruses", "踢踏舞和大合唱")),
    "Mystery": (("a locked-room puzzle with a surprise solution", "密室谜题和出人意料的答案"),
                ("an amateur sleuth following a trail of clues", "业余侦探顺着线索追查")),
    "Romance": (("two strangers falling in love in Paris", "两个陌生人在巴黎坠入爱河"),
                ("a love story with a wedding at the end", "以婚礼结尾的爱情故事")),
    "Sci-Fi": (("aliens landing on Earth", "外星人降落地球"),
               ("a starship crew and a distant future", "星舰船员和遥远的未来")),
    "Thriller": (("a spy on the run who can trust no one", "谁都不能信任的逃亡间谍"),
                 ("edge-of-my-seat tension and a hostage", "让人坐立不安的紧张和人质")),
    "War": (("soldiers storming a beach under fire", "冒着炮火抢滩登陆的士兵"),
            ("the battlefields of Vietnam", "越南战场")),
    "Western": (("cowboys, cattle drives and six-shooters", "牛仔、赶牛和左轮手枪"),
                ("a gunslinger riding into a dusty town", "骑马进入尘土飞扬小镇的枪手")),
}  # fmt: skip

FRESH: dict[str, tuple[str, str]] = {
    "Action": ("high-octane stunts and shootouts", "高能特技和枪战场面"),
    "Adventure": ("sailing to a lost island on a daring expedition", "航行去失落小岛的大胆远征"),
    "Animation": ("drawn characters instead of real actors", "用画出来的角色而不是真人演员的"),
    "Children's": ("a film I can show my kids on Saturday morning", "周六早上能给孩子们看的"),
    "Comedy": ("a film that will have me in stitches", "让我笑破肚皮的"),
    "Crime": ("a gang of robbers planning the perfect job", "一伙劫匪策划完美作案"),
    "Documentary": ("a film about real people and real facts", "关于真人真事的纪实影片"),
    "Drama": ("a heartfelt story of struggle and hope", "关于挣扎与希望的动情故事"),
    "Fantasy": ("a world of magic spells and mythical creatures", "充满魔法咒语和神话生物的世界"),
    "Film-Noir": ("a hard-boiled detective in a rainy, dark city", "雨夜黑暗城市里的硬汉侦探"),
    "Horror": ("something terrifying with demons and blood", "有恶魔和鲜血、吓死人的"),
    "Musical": ("a story told through songs on stage", "用舞台歌曲讲故事的"),
    "Mystery": ("a murder to solve in a country house", "乡间别墅里待破的谋杀案"),
    "Romance": ("falling head over heels for someone", "对某人一见钟情的"),
    "Sci-Fi": ("a voyage to another galaxy", "前往另一个星系的航行"),
    "Thriller": ("a race against time with a killer on the loose", "与逍遥法外的杀手争分夺秒"),
    "War": ("bombs, tanks and the front line", "炸弹、坦克和前线"),
    "Western": ("outlaws riding across the desert on horseback", "骑马穿越沙漠的亡命之徒"),
}  # fmt: skip

# Requests that name no genre and describe none: with them the ranking should stay what it is
# without a request. ``NEUTRAL_DEV`` was read while choosing the leaning strength
# (genrec.requests.leaning) and while trying category-free training requests (not kept);
# ``NEUTRAL_FRESH`` was written (2026-12-06) before any measurement on it and is read only by
# `make bench-requests`.
NEUTRAL_DEV: dict[str, tuple[str, ...]] = {
    "en": ("something for tonight", "what should I watch", "surprise me", "something new",
           "I am bored", "the best you have", "a good one for the weekend", "something different"),
    "zh": ("今晚看点什么", "我该看什么", "给我个惊喜", "来点新的", "好无聊", "最好的",
           "周末看点好的", "换换口味"),
}  # fmt: skip
# Written 2026-12-07 before any measurement on them, then read while choosing the Chinese frame
# words (genrec.requests.patterns) and trying a test of which requests lean (not kept): DEV too.
NEUTRAL_DEV2: dict[str, tuple[str, ...]] = {
    "en": ("recommend me something", "any suggestions?", "what's good?",
           "I need something to pass the time", "give me your top pick",
           "what would you suggest for me", "I'm open to anything", "just show me something nice",
           "something I will enjoy", "what's popular right now", "I don't know what I want",
           "what else is there", "show me more", "recommend something please",
           "what's next for me", "whatever you think"),
    "zh": ("推荐点东西", "有什么建议吗", "有什么好的", "我想打发时间", "给我你的首选",
           "你会建议我什么", "什么都可以", "给我看点不错的", "我会喜欢的", "现在流行什么",
           "我不知道想要什么", "还有什么", "再给我看看", "请推荐一下", "下一个是什么",
           "随便来一个"),
}  # fmt: skip
# Written 2026-12-07 (stop 38) before any measurement on them, to look for more Chinese and
# English requests about nothing that the parser reads as a category: DEV too.
NEUTRAL_DEV3: dict[str, tuple[str, ...]] = {
    "en": ("hit me with something", "got anything for me?", "I'm in the mood for anything",
           "your call", "what do you have today", "recommend a few", "let me see some options",
           "fill my evening", "something to unwind with", "what are people liking",
           "one more please", "another one", "keep them coming", "I trust you, pick",
           "a recommendation, please", "something worth it", "what's hot", "any ideas for me",
           "show me what you've got", "I want to see something"),
    "zh": ("给我来点什么", "有啥推荐的", "我什么都想看", "你来定", "今天有什么", "推荐几个",
           "让我看看有哪些选择", "打发一下晚上", "放松一下", "大家都在看什么", "再来一个",
           "换一个", "继续推荐", "我相信你，你挑", "请给个推荐", "值得一看的", "最近火的",
           "有什么想法", "看看你有什么", "我想看点东西"),
}  # fmt: skip
NEUTRAL_FRESH: dict[str, tuple[str, ...]] = {
    "en": ("anything worth my time?", "pick one for me", "I have two hours free",
           "what do you recommend", "help me choose", "I can't decide"),
    "zh": ("有什么值得看的", "帮我挑一个", "我有两个小时空闲", "你推荐什么", "帮我选一下",
           "我拿不定主意"),
}  # fmt: skip
# Moods: no genre named or described, but a wish some genres answer (a mood counts as followed
# when an item has one of the genres listed with it). Written 2026-12-07 (stop 42) before any
# measurement on them, for tuning how moods lean: DEV. `make bench-requests` reports the four
# moods of benchmarks/request_kinds.py, never these.
MOODS_DEV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("something cosy to watch under a blanket", "适合裹着毯子看的温馨片",
     ("Comedy", "Romance", "Animation", "Children's", "Musical")),
    ("I had a terrible day, make me smile", "今天好累，让我笑一笑",
     ("Comedy", "Animation", "Musical", "Children's")),
    ("I want a good cry", "想好好哭一场", ("Drama", "Romance", "War")),
    ("something that will keep me up at night", "看完晚上睡不着的",
     ("Horror", "Thriller", "Mystery")),
    ("a rush of adrenaline", "肾上腺素飙升的", ("Action", "Thriller", "Adventure", "War")),
    ("a date night pick", "适合约会时看的", ("Romance", "Comedy")),
    ("something to watch with the whole family", "全家一起看的",
     ("Children's", "Animation", "Comedy", "Adventure", "Musical")),
    ("a slow, thoughtful film", "节奏慢、引人深思的", ("Drama", "Documentary", "Film-Noir")),
    ("a puzzle to figure out", "需要动脑解谜的", ("Mystery", "Thriller", "Crime", "Film-Noir")),
    ("something to escape into another world", "逃离现实、进入另一个世界的",
     ("Fantasy", "Sci-Fi", "Adventure", "Animation")),
    ("feel-good and uplifting", "看了心情变好的", ("Comedy", "Musical", "Romance", "Children's")),
    ("dark and gritty", "黑暗又残酷的", ("Crime", "Film-Noir", "Thriller", "War", "Horror")),
)  # fmt: skip

# Exclusions that describe a genre instead of naming it ("no cartoons", "不要鬼片"), written
# 2026-12-08 (stop 44) before any measurement on them. A phrase the parser cannot resolve to a
# category is avoided softly (genrec.requests.leaning); ``EXCLUDE_DEV`` is read while choosing how
# strongly, ``EXCLUDE_FRESH`` only by `make bench-requests`.
EXCLUDE_DEV: dict[str, tuple[tuple[str, str], ...]] = {
    "Action": (("no explosions or car chases", "不要打打杀杀的"),
               ("nothing full of fistfights", "别推荐枪战片")),
    "Adventure": (("no treasure hunts", "不要寻宝的"),
                  ("nothing about expeditions to lost lands", "别推荐探险片")),
    "Animation": (("no cartoons", "不要卡通"), ("nothing hand-drawn", "别推荐画出来的")),
    "Children's": (("nothing for little kids", "不要小孩子看的"),
                   ("no kiddie films", "别推荐幼儿片")),
    "Comedy": (("no slapstick", "不要搞笑片"), ("nothing silly or jokey", "别推荐逗乐的")),
    "Crime": (("no gangsters", "不要黑帮片"), ("nothing about heists or the mob", "别推荐抢劫的")),
    "Documentary": (("no nonfiction films", "不要真实记录的"),
                    ("nothing factual about real events", "别推荐纪实片")),
    "Drama": (("no tearjerkers", "不要催泪的"), ("nothing heavy and emotional", "别推荐文艺片")),
    "Fantasy": (("no wizards or dragons", "不要魔幻片"),
                ("nothing with magic spells", "别推荐神话的")),
    "Film-Noir": (("no hard-boiled detective films from the forties", "不要老式侦探片"),
                  ("nothing with a femme fatale", "别推荐蛇蝎美人的")),
    "Horror": (("no scary films", "不要鬼片"), ("nothing with ghosts or monsters", "别推荐吓人的")),
    "Musical": (("no song-and-dance films", "不要歌舞片"),
                ("nothing where people sing", "别推荐载歌载舞的")),
    "Mystery": (("no whodunits", "不要推理片"),
                ("nothing about solving a puzzle of clues", "别推荐侦探破案的")),
    "Romance": (("no love stories", "不要谈恋爱的"), ("nothing mushy", "别推荐卿卿我我的")),
    "Sci-Fi": (("no space operas", "不要外星人的"),
               ("nothing about robots or aliens", "别推荐太空片")),
    "Thriller": (("no suspense", "不要紧张刺激的"), ("nothing nail-biting", "别推荐悬念片")),
    "War": (("no battlefield films", "不要打仗的"), ("nothing about soldiers", "别推荐军事片")),
    "Western": (("no cowboys", "不要牛仔片"),
                ("nothing set on the frontier", "别推荐荒野大镖客那种的")),
}  # fmt: skip
EXCLUDE_FRESH: dict[str, tuple[str, str]] = {
    "Action": ("avoid shootouts", "不要飙车爆炸的"),
    "Adventure": ("no quests in far-off lands", "不要远方历险的"),
    "Animation": ("avoid animated features", "不要动漫"),
    "Children's": ("avoid family films for toddlers", "不要给小朋友看的"),
    "Comedy": ("avoid funny films", "不要笑料多的"),
    "Crime": ("avoid mafia stories", "不要警匪片"),
    "Documentary": ("avoid docs about nature", "不要讲真人真事的"),
    "Drama": ("avoid serious emotional stories", "不要沉重的"),
    "Fantasy": ("avoid fairy-tale kingdoms", "不要有魔法的"),
    "Film-Noir": ("avoid shadowy black-and-white detective stories", "不要四十年代的阴暗侦探片"),
    "Horror": ("avoid slasher flicks", "不要有僵尸的"),
    "Musical": ("avoid Broadway shows", "不要唱唱跳跳的"),
    "Mystery": ("avoid detective puzzles", "不要猜凶手的"),
    "Romance": ("avoid date movies about couples", "不要男女恋爱的"),
    "Sci-Fi": ("avoid futuristic space stuff", "不要讲未来科技的"),
    "Thriller": ("avoid edge-of-your-seat tension", "不要让人提心吊胆的"),
    "War": ("avoid combat films", "不要讲战场的"),
    "Western": ("avoid gunslingers", "不要骑马枪战的"),
}  # fmt: skip

# Negations that exclude nothing the catalog has ("I'm not sure", "别太长的"): an unresolved
# exclusion is avoided softly, so these should cost little. Written at the stop-44 review before
# measuring them, then read while choosing genrec.requests.leaning.AVOID_WEIGHT: DEV.
NEGATION_DEV: dict[str, tuple[str, ...]] = {
    "en": ("I'm not sure, surprise me", "no idea what to watch", "nothing in particular",
           "not sure what I want", "no preference", "not too long please",
           "I don't want to think too hard", "no rush, anything good"),
    "zh": ("别太长的", "不要太复杂的", "别让我失望", "不要太无聊的", "别选太老的", "不要重复的",
           "别推荐我看过的", "除了这些还有什么"),
}  # fmt: skip
